-- expect: : the spec must return automl.search{...}
automl.search {
  data = "../data/h5/minimal_regression.h5",
}
