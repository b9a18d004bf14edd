-- expect: :7: models.knn.k: range [1, 500] must lie within [1, 50]
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = {
    knn = {
      k = automl.int(1, 500),
    },
  },
}
