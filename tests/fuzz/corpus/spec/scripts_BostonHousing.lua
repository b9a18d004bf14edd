-- scripts/BostonHousing.lua: regression on datasets/BostonHousing.h5 (house prices).
-- Run from the repository root:
--   automl search scripts/BostonHousing.lua
-- datasets/BostonHousing.h5 comes from datasets/BostonHousing.csv
--   (`automl import`, done by scripts/setup.sh).
local data = automl.dataset("datasets/BostonHousing.h5")  -- or automl.dataset{ path = ..., target = ... }
return automl.search {
  data = data,
  task = "regression",                        -- "auto" guesses from the target column
  metric = "auto",                            -- "auto" = accuracy or r2; rmse, mae ...
  budget = { seconds = 20 },                  -- and/or trials = N
  resampling = { kind = "auto" },             -- "holdout" | "kfold" (folds = 2..20)
  models = { "linear", "knn", "forest" },     -- or { knn = { k = automl.int(1, 30) } }
  seed = 1,
  -- on_trial = function(t) print(t.id, t.model, t.score) end,   -- return "stop" to end early
  export = { to = "models", name = "BostonHousing" },  -- models/BostonHousing/<version>/
}
