-- scripts/diabetes.lua: regression on datasets/diabetes.h5 (disease progression).
-- Run from the repository root:
--   automl search scripts/diabetes.lua
-- datasets/diabetes.h5 comes from datasets/diabetes.csv
--   (`automl import`, done by scripts/setup.sh).
local data = automl.dataset("datasets/diabetes.h5")  -- or automl.dataset{ path = ..., target = ... }
return automl.search {
  data = data,
  task = "regression",                        -- "auto" guesses from the target column
  metric = "r2",                              -- "auto" = accuracy or r2; rmse, mae ...
  budget = { seconds = 20 },                  -- and/or trials = N
  resampling = { kind = "auto" },             -- "holdout" | "kfold" (folds = 2..20)
  models = { "linear", "knn", "forest" },     -- or { knn = { k = automl.int(1, 30) } }
  seed = 1,
  export = { to = "models", name = "diabetes" },  -- models/diabetes/<version>/
}
