-- expect: :7: features.linear[2]: unknown feature plugin 'scaler' (available: impute, onehot, pca, scale, select, target_encode)
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "knn" },
  features = {
    linear = { "impute", "scaler" },
  },
}
