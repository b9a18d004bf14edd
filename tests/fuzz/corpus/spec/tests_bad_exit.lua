-- expect: :4: os.exit is not available in a spec: return automl.search{...}, or error(msg)
local data = "../data/h5/minimal_regression.h5"
if automl.version then
  os.exit(1)
end
return automl.search { data = data }
