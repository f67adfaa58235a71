-- wrk script: POST pre-rendered GraphQL bodies, cycling through them, and print one
-- machine-readable RESULT line at the end.
--
--   BENCH_BODIES=/tmp/bodies.jsonl BENCH_LABEL=customer_page/c10 \
--     wrk -t1 -c10 -d10s --timeout 10s -s wrk_post.lua http://127.0.0.1:5055/graphql
--
-- BENCH_BODIES: file with one JSON request body per line (render_bodies.py writes it).
-- BENCH_AUTHORIZATION (optional): sent as the Authorization header, e.g. "Bearer pgk_…".
-- Each wrk thread starts at a different offset so threads do not send the same ids in step.

local reqs = {}
local n = 0
local i = 0
local thread_no = 0

setup = function(thread)
  thread:set("thread_no", thread_no)
  thread_no = thread_no + 1
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
  i = ((thread_no or 0) * 997) % n
end

request = function()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
    '"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    os.getenv("BENCH_LABEL") or "", summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
end
