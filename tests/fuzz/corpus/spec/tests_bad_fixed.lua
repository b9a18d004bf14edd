-- expect: :6: models.linear.l2: must be in [1e-06, 1000], got 5000
-- needs: plugins
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  models = {
    linear = { l2 = 5000 },
  },
}
