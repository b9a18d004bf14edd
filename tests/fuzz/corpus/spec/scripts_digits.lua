-- scripts/digits.lua: classification on datasets/digits.h5 (10 classes).
-- Run from the repository root:
--   automl search scripts/digits.lua
-- datasets/digits.h5 comes from datasets/digits.csv
--   (`automl import`, done by scripts/setup.sh).
local data = automl.dataset("datasets/digits.h5")  -- or automl.dataset{ path = ..., target = ... }
return automl.search {
  data = data,
  task = "classification",                    -- "auto" guesses from the target column
  metric = "auto",                            -- "auto" = accuracy or r2; rmse, mae ...
  budget = { seconds = 20 },                  -- and/or trials = N
  resampling = { kind = "auto" },             -- "holdout" | "kfold" (folds = 2..20)
  models = { "linear", "knn", "mlp", "gbdt" }, -- or { knn = { k = automl.int(1, 30) } }
  seed = 1,
  export = { to = "models", name = "digits" },  -- models/digits/<version>/
}
