local parts = { string.dump(function() end) }
local f, err = load(function() return table.remove(parts) end)
error(err)
