-- expect: :4: package.loadlib is not available in the spec sandbox (run automl search --unsafe-spec to give the spec the full Lua standard library)
-- A spec runs in a sandbox: no native libraries.
local data = "../data/h5/minimal_regression.h5"
local system = package.loadlib("libc.so.6", "system")
error("package.loadlib ran: the sandbox is open")
return automl.search { data = data }
