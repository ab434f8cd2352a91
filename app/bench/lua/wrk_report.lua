-- wrk script for `handbook bench`: one static request, settings from the environment.
--   BENCH_TOKEN   bearer token -> "Authorization: Bearer <token>" (optional)
--   BENCH_METHOD  GET (default) | POST | ...
--   BENCH_BODY    request body (optional); BENCH_CTYPE its Content-Type
--                 (default application/json when a body is given)
--   BENCH_REQUESTS  a file of "PATH<TAB>TOKEN" lines: the requests are pre-built once and sent in
--                 turn (several personas, never one hot row); without it one static request
-- No response() hook is defined; request() only hands out pre-built requests.
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

local listing = os.getenv("BENCH_REQUESTS")
if listing and listing ~= "" then
  local variants = {}
  for line in io.lines(listing) do
    local path, bearer = line:match("^([^\t]+)\t?(.*)$")
    if path then
      local headers = {}
      if bearer and bearer ~= "" then headers["Authorization"] = "Bearer " .. bearer end
      variants[#variants + 1] = {path = path, headers = headers}
    end
  end
  local built = {}
  local n = 0
  function init(args)
    for i, v in ipairs(variants) do
      built[i] = wrk.format(method, v.path, v.headers, body)
    end
  end
  function request()
    n = n % #built + 1
    return built[n]
  end
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
