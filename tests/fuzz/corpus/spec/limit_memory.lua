-- a spec that allocates over the memory limit: the error must name the spec
local big = string.rep("x", 300 * 1024 * 1024)
return automl.search { data = "../data/h5/minimal_regression.h5" }
