-- wrk script for `handbook bench`: one static request, settings from the environment.
--   BENCH_TOKEN   bearer token -> "Authorization: Bearer <token>" (optional)
--   BENCH_METHOD  GET (default) | POST | ...
--   BENCH_BODY    request body (optional); BENCH_CTYPE its Content-Type
--                 (default application/json when a body is given)
-- No request()/response() hooks are defined, so wrk sends a pre-built request at full speed.
-- done() prints one machine-readable line starting with "RESULT " (parsed by app/bench/wrk.py).
local token  = os.getenv("BENCH_TOKEN")
local method = os.getenv("BENCH_METHOD") or "GET"
local body   = os.getenv("BENCH_BODY")
local ctype  = os.getenv("BENCH_CTYPE")

wrk.method = method
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = ctype or "application/json"
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f " ..
    "requests=%d non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d secs=%.3f\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, secs))
end
