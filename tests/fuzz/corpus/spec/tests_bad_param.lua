-- expect: :6: models.knn.neighbours: unknown parameter 'neighbours' (valid: k, weights, metric)
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = {
    knn = { neighbours = 5 },
  },
}
