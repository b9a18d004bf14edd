-- expect: :4: io.popen is not available in the spec sandbox (run automl search --unsafe-spec to give the spec the full Lua standard library)
-- A spec runs in a sandbox: no processes, no files.
local data = "../data/h5/minimal_regression.h5"
local p = io.popen("id")
error("io.popen ran: the sandbox is open")
return automl.search { data = data }
