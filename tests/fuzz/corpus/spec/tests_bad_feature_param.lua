-- expect: :7: features.knn[2].levels: unknown parameter 'levels' (valid: max_levels)
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "knn" },
  features = {
    knn = { "impute", { "onehot", levels = 3 } },
  },
}
