-- expect: :6: features[1].max_levels: expected a fixed value (search over whole pipelines with automl.choice{ {...}, {...} })
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = { "linear", "knn" },
  features = { { "onehot", max_levels = automl.int(2, 9) }, "scale" },
}
