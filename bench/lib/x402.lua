-- wrk script (bench/run, x402 scenario): like post.lua, but every request
-- carries the next pre-signed X-PAYMENT header from $BENCH_PAYMENTS_FILE (the
-- gateway rejects a reused EIP-3009 nonce, so each payment is used once; when
-- the file runs out, requests repeat payments and show up as non-2xx).
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
local pays = {}
for line in io.lines(os.getenv("BENCH_PAYMENTS_FILE")) do pays[#pays + 1] = line end
local skip = tonumber(os.getenv("BENCH_PAYMENTS_SKIP") or "0")
local i = skip
local headers = { ["Content-Type"] = "application/json" }

function request()
  i = i + 1
  headers["X-PAYMENT"] = pays[((i - 1) % #pays) + 1]
  return wrk.format("POST", nil, headers, body)
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
