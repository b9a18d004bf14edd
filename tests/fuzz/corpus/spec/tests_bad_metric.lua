-- expect: :4: metric: 'accuracy' is a classification metric, but task is 'regression'
return automl.search {
  data = "../data/h5/minimal_regression.h5", task = "regression",
  metric = "accuracy",
}
