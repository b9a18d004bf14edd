-- expect: :7: features.knn: choice 2: expected "auto" or a list of feature steps, got 'scale'
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "knn" },
  features = {
    knn = automl.choice{ { "impute", "scale" }, "scale" },
  },
}
