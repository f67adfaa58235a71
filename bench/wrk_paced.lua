-- wrk script: POST pre-rendered GraphQL bodies at a paced rate, and count every answer that
-- is not a 200 without "errors" as a failure. Prints one machine-readable RESULT line.
--
--   BENCH_BODIES=/tmp/bodies.jsonl BENCH_DELAY_MS=200 BENCH_AUTHORIZATION="Bearer pgk_…" \
--     wrk -t2 -c40 -d40s --timeout 30s -s wrk_paced.lua http://127.0.0.1:8080/graphql
--
-- Each connection waits BENCH_DELAY_MS before each request (wrk's delay()), so the rate is
-- about connections * 1000 / (BENCH_DELAY_MS + latency) requests a second. Bodies are sent
-- in order, each thread from its own offset (a body with an idempotency key is sent once
-- per pass). Used by bench/scale_out.py rolling-restart.

local reqs = {}
local n = 0
local i = 0
local thread_no = 0
local threads = {}
failures = 0  -- globals: done() reads them from each thread
first_failure = ""

setup = function(thread)
  thread:set("thread_no", thread_no)
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

init = function(args)
  local path = os.getenv("BENCH_BODIES")
  assert(path, "BENCH_BODIES is not set")
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  local auth = os.getenv("BENCH_AUTHORIZATION")
  if auth and #auth > 0 then headers["Authorization"] = auth end
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", nil, headers, line)
    end
  end
  assert(n > 0, "no bodies in " .. path)
  i = math.floor(((thread_no or 0) * n) / 2)
end

delay = function()
  return tonumber(os.getenv("BENCH_DELAY_MS") or "0")
end

request = function()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
    if first_failure == "" then
      first_failure = (status .. " " .. string.sub(body, 1, 120)):gsub('[%c"\\]', " ")
    end
  end
end

done = function(summary, latency, requests)
  local failed = 0
  local first = ""
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    if first == "" then first = thread:get("first_failure") end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"failed":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_timeout":%d,"first_failure":"%s"}\n',
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, failed, e.connect, e.read, e.write,
    e.timeout, first))
end
