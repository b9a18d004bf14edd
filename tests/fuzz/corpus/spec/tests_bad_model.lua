-- expect: :5: models[2]: unknown model 'gbm' (available: knn, linear)
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "gbm" },
}
