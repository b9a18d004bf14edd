-- expect: :4: unknown field 'budgt' (expected one of: data, task, metric, budget, resampling, models, features, strategy, parallel, threads, ensemble, seed, export, plugins, out, on_trial, warm_start)
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  budgt = { seconds = 5 },
}
