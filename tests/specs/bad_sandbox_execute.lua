-- expect: :4: os.execute is not available in the spec sandbox (run automl search --unsafe-spec to give the spec the full Lua standard library)
-- A spec runs in a sandbox: no processes (automl search --unsafe-spec lifts it).
local data = "../data/h5/minimal_regression.h5"
os.execute("true")
error("os.execute ran: the sandbox is open")
return automl.search { data = data }
