-- wrk script: POST /tickets with a bearer token and a unique Idempotency-Key per request.
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/post_tickets.lua URL -- TOKEN RUN_ID P1,P2,...
-- TOKEN may be "-" (the CRUD baseline needs none). Keys are RUN_ID-thread-counter, so no
-- two requests of a run (or of two runs) share one; a replayed key would be answered from
-- the idempotency record instead of recording a ticket.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
local headers, projects, run_id

function init(args)
   run_id = args[2] or "run"
   projects = {}
   for p in string.gmatch(args[3] or "P1", "[^,]+") do
      projects[#projects + 1] = p
   end
   headers = { ["Content-Type"] = "application/json" }
   if args[1] and args[1] ~= "-" then
      headers["Authorization"] = "Bearer " .. args[1]
   end
end

function request()
   counter = counter + 1
   headers["Idempotency-Key"] = string.format("%s-%d-%d", run_id, thread_id or 0, counter)
   local body = string.format(
      '{"project":"%s","kind":"repair","channel":"phone","priority":"normal",' ..
      '"category":"水电","description":"卫生间水管漏水，楼下天花板渗水 %d-%d",' ..
      '"reporter":{"name":"张三","unit":"3-1201","phone":"13812345678"}}',
      projects[(counter % #projects) + 1], thread_id or 0, counter)
   return wrk.format("POST", "/tickets", headers, body)
end
