-- Shared by post_tickets.lua and get_ticket.lua (loaded with dofile from init):
-- numbering of wrk's threads and the one machine-readable result line.

-- setup() runs in the main Lua state once per wrk thread, before init() runs in that
-- thread's own state: each thread learns its number here.
local thread_count = 0
function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

-- done() runs once in the main state: one JSON line bench/wrk_load.py parses.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
