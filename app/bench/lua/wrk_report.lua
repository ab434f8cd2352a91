-- wrk script for `handbook bench`: one static request, settings from the environment.
--   BENCH_TOKEN   bearer token -> "Authorization: Bearer <token>" (optional)
--   BENCH_METHOD  GET (default) | POST | ...
--   BENCH_BODY    request body (optional); BENCH_CTYPE its Content-Type
--                 (default application/json when a body is given)
--   BENCH_REQUESTS  a file of "PATH<TAB>TOKEN" lines (reads) or
--                 "PATH<TAB>TOKEN<TAB>METHOD<TAB>IDEMPOTENCY_KEY<TAB>BODY" lines (writes): the
--                 requests are pre-built once and sent in turn (several personas, never one hot
--                 row); without it one static request
--   BENCH_BURST   "1": send each request of BENCH_REQUESTS exactly once (a burst of writes).
--                 delay() hands out one slot per request left and parks a connection once none
--                 is (wrk calls request() once at start-up to check it; that call takes no slot,
--                 so nothing is skipped); response() counts every answer that is not 2xx (wrk
--                 itself counts only >= 400) and, once the last request is answered, stops the
--                 thread and prints BURST_DONE on stderr so the caller ends the run at once.
-- Reads define no response() hook; request() only hands out pre-built requests.
-- done() prints one machine-readable line starting with "RESULT " (parsed by app/bench/wrk.py).
local token  = os.getenv("BENCH_TOKEN")
local method = os.getenv("BENCH_METHOD") or "GET"
local body   = os.getenv("BENCH_BODY")
local ctype  = os.getenv("BENCH_CTYPE")
local burst  = os.getenv("BENCH_BURST") == "1"

wrk.method = method
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = ctype or "application/json"
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

local listing = os.getenv("BENCH_REQUESTS")
if listing and listing ~= "" then
  local variants = {}
  for line in io.lines(listing) do
    local f = split(line)
    if f[1] and f[1] ~= "" then
      local headers = {}
      if f[2] and f[2] ~= "" then headers["Authorization"] = "Bearer " .. f[2] end
      local v = {path = f[1], headers = headers, method = method, body = body}
      if f[3] and f[3] ~= "" then
        v.method = f[3]
        if f[4] and f[4] ~= "" then headers["Idempotency-Key"] = f[4] end
        if f[5] and f[5] ~= "" then
          v.body = f[5]
          headers["Content-Type"] = "application/json"
        end
      end
      variants[#variants + 1] = v
    end
  end
  local built = {}
  local n = 0
  function init(args)
    for i, v in ipairs(variants) do
      built[i] = wrk.format(v.method, v.path, v.headers, v.body)
    end
  end
  if not burst then
    function request()
      n = n % #built + 1
      return built[n]
    end
  else
    -- Globals read by done() through thread:get().
    planned, slots, sent, answered, not2xx = #variants, 0, 0, 0, 0
    failures = {}  -- "STATUS/problem code" -> count, for the report
    local PARK_MS = 3600 * 1000  -- a connection with nothing left to send waits for the end

    function delay()
      if slots < #built then
        slots = slots + 1
        return 0
      end
      return PARK_MS
    end

    function request()
      if sent < slots then
        sent = sent + 1
        return built[sent]
      end
      -- wrk's start-up check (or a reconnect that skipped delay()): the next request again,
      -- without taking it; the check's copy is never sent.
      return built[math.min(sent + 1, #built)]
    end

    function response(status, headers, payload)
      answered = answered + 1
      if status < 200 or status > 299 then
        not2xx = not2xx + 1
        local code = payload and payload:match('"code"%s*:%s*"([^"]+)"') or "-"
        local key = status .. "/" .. code
        failures[key] = (failures[key] or 0) + 1
      end
      if answered == planned then
        wrk.thread:stop()
        io.stderr:write("BURST_DONE\n")
        io.stderr:flush()
      end
    end
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local status = e.status
  local extra = ""
  if burst then
    local total_planned, total_sent, total_not2xx = 0, 0, 0
    local seen = {}
    for _, t in ipairs(threads) do
      total_planned = total_planned + (t:get("planned") or 0)
      total_sent = total_sent + (t:get("sent") or 0)
      total_not2xx = total_not2xx + (t:get("not2xx") or 0)
      for key, n in pairs(t:get("failures") or {}) do seen[key] = (seen[key] or 0) + n end
    end
    local listed = {}
    for key, n in pairs(seen) do listed[#listed + 1] = key .. "*" .. n end
    table.sort(listed)
    status = math.max(status, total_not2xx)
    extra = string.format(" planned=%d sent=%d failures=%s", total_planned, total_sent,
                          #listed > 0 and table.concat(listed, ",") or "-")
  end
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f " ..
    "requests=%d non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d secs=%.3f%s\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.requests, status, e.connect, e.read, e.write, e.timeout, secs, extra))
end
