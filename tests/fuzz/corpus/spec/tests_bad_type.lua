-- expect: :5: resampling.kind: must be one of auto, holdout, kfold, repeated, got 'bootstrap'
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  resampling = {
    kind = "bootstrap",
  },
}
