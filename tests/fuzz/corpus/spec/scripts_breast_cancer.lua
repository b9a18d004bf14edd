-- scripts/breast_cancer.lua: classification on datasets/breast_cancer.h5 (2 classes).
-- Run from the repository root:
--   automl search scripts/breast_cancer.lua
-- datasets/breast_cancer.h5 comes from datasets/breast_cancer.csv
--   (`automl import`, done by scripts/setup.sh).
local data = automl.dataset("datasets/breast_cancer.h5")  -- or automl.dataset{ path = ..., target = ... }
return automl.search {
  data = data,
  task = "classification",                    -- "auto" guesses from the target column
  metric = "auto",                            -- "auto" = accuracy or r2; rmse, mae ...
  budget = { seconds = 20 },                  -- and/or trials = N
  resampling = { kind = "auto" },             -- "holdout" | "kfold" (folds = 2..20)
  models = { "linear", "knn", "gbdt" },       -- or { knn = { k = automl.int(1, 30) } }
  seed = 1,
  export = { to = "models", name = "breast_cancer" },  -- models/breast_cancer/<version>/
}
