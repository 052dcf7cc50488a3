-- Hold then confirm: a hold (new slot from this thread's slice, new candidate) and, once its
-- 201 is back, a confirm of that booking. Confirms go first whenever one is owed, so each
-- hold is confirmed within a request or two.
dofile("common.lua")

local ids, next_id, owed

function init(args)
   seed_random()
   ids = read_slice()
   next_id, owed = 1, {}
end

function request()
   local booking = table.remove(owed)
   if booking then
      return wrk.format("POST", "/api/v1/bookings/" .. booking .. "/confirm", client_headers(false))
   end
   local slot = ids[next_id]
   next_id = next_id % #ids + 1
   local body = '{"slot_id":"' .. slot .. '","candidate_id":"' .. uuid4() ..
      '","contact_email":"bench@example.com"}'
   return wrk.format("POST", "/api/v1/bookings", client_headers(true), body)
end

function response(status, headers, body)
   -- 201 only answers a hold and 200 only a confirm, so the status tells them apart.
   count_status(status)
   if status == 201 then
      table.insert(owed, string.match(body, '"id"%s*:%s*"([%x%-]+)"'))
   end
end
