-- scripts/wine.lua: classification on datasets/wine.h5 (3 classes).
-- Run from the repository root:
--   automl search scripts/wine.lua
-- datasets/wine.h5 comes from datasets/wine.csv
--   (`automl import`, done by scripts/setup.sh).
local data = automl.dataset("datasets/wine.h5")  -- or automl.dataset{ path = ..., target = ... }
return automl.search {
  data = data,
  task = "classification",                    -- "auto" guesses from the target column
  metric = "auto",                            -- "auto" = accuracy or r2; rmse, mae ...
  budget = { seconds = 20 },                  -- and/or trials = N
  resampling = { kind = "auto" },             -- "holdout" | "kfold" (folds = 2..20)
  models = { "linear", "knn", "forest" },     -- or { knn = { k = automl.int(1, 30) } }
  seed = 1,
  export = { to = "models", name = "wine" },  -- models/wine/<version>/
}
