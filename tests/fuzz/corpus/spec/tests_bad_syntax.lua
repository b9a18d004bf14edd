-- expect: :4: '}' expected (to close '{' at line 2) near 'task'
return automl.search {
  data = "../data/h5/minimal_regression.h5"
  task = "regression",
}
