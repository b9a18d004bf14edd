-- expect: :3: attempt to call a nil value (field 'uniformm')
local space = {
  l2 = automl.uniformm(0, 1),
}
return automl.search { data = "../data/h5/minimal_regression.h5" }
