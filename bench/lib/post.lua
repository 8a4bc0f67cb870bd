-- wrk script (bench/run): POST a JSON body read from $BENCH_BODY_FILE with
-- extra headers from $BENCH_HEADERS ("Name: value" lines), and print one
-- machine-readable summary line at the end. No response() callback on
-- purpose: it would make wrk copy every response into Lua and slow the load
-- generator; wrk itself counts statuses > 399 in errors.status (non-2xx).
wrk.method = "POST"
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local k, v = line:match("^%s*([^:]+):%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d lat_mean=%.1f lat_p50=%d lat_p90=%d lat_p99=%d lat_p999=%d lat_max=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
