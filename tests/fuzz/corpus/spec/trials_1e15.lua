-- expect: :4: budget.trials: must be an integer in [1, 1000000000], got 1e+15
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  budget = { trials = 1e15 },
}
