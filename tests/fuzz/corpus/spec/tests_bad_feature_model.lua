-- expect: :8: features.lineer: unknown model 'lineer' (available: knn, linear, or default)
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "knn" },
  features = {
    default = "auto",
    lineer = { "scale" },
  },
}
