-- expect: :5: budget.seconds: must be > 0, got -5
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  -- budget = { seconds = 10 },  (a comment does not count)
  budget = { seconds = -5 },
}
