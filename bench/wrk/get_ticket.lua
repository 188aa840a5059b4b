-- wrk script: GET /tickets/{id}, cycling through the ids in a file (one per line).
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/get_ticket.lua URL -- TOKEN IDS_FILE
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
local headers, ids

function init(args)
   ids = {}
   for line in io.lines(args[2]) do
      if #line > 0 then ids[#ids + 1] = line end
   end
   headers = {}
   if args[1] and args[1] ~= "-" then
      headers["Authorization"] = "Bearer " .. args[1]
   end
   -- threads start at different places in the list
   counter = ((thread_id or 1) - 1) * 7919
end

function request()
   counter = counter + 1
   return wrk.format("GET", "/tickets/" .. ids[(counter % #ids) + 1], headers)
end
