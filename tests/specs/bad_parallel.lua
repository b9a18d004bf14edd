-- expect: :5: parallel: must be "auto" or an integer in [1, 1024], got 5000
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  budget = { trials = 2 },
  parallel = 5000,
}
