-- needs: plugins
-- Every field, with ranges for both models.
local data = automl.dataset{ path = "../data/h5/minimal_regression.h5" }
return automl.search {
  data = data, task = "regression", metric = "rmse",
  budget = { seconds = 5, trials = 20 },
  resampling = { kind = "kfold", folds = 3 },
  models = {
    linear = { l2 = automl.loguniform(1e-4, 10), l1 = 0 },
    knn = { k = automl.int(1, 20, { log = true }), weights = automl.choice{ "uniform", "distance" } },
  },
  features = "auto", strategy = "auto", parallel = "auto", threads = 2,
  ensemble = false, seed = 3,
  export = { to = "models", name = "minimal", exporters = { "native" } },
  on_trial = function(t) if t.score and t.score < 1e-9 then return "stop" end end,
}
