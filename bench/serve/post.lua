-- wrk script: POST a fixed body (the file named by $BODY) and print the numbers run.sh parses.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests=%d\nseconds=%.3f\nrps=%.0f\np50_us=%d\np90_us=%d\np99_us=%d\nmax_us=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("errors_connect=%d\nerrors_read=%d\nerrors_write=%d\nerrors_timeout=%d\nerrors_status=%d\n",
    e.connect, e.read, e.write, e.timeout, e.status))
end
