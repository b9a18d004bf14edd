setmetatable({}, { __gc = function() while true do end end })
return automl.search { data = 'data.h5' }
