-- POST /api/v1/bookings: each request a slot from this thread's slice of BENCH_IDS_FILE and a
-- new random candidate. The slice wraps around when used up (the storm relies on it: 10 slots,
-- hundreds of candidates); with BENCH_STOP_AFTER_SLICE=1 the thread stops once every slot of its
-- slice has been answered (the expiry burst: exactly N holds, as fast as the service takes them).
dofile("common.lua")

local ids, next_id, answered, stop_after_slice

function init(args)
   seed_random()
   ids = read_slice()
   next_id, answered = 1, 0
   stop_after_slice = os.getenv("BENCH_STOP_AFTER_SLICE") == "1"
end

function request()
   local slot = ids[next_id]
   next_id = next_id % #ids + 1
   local body = '{"slot_id":"' .. slot .. '","candidate_id":"' .. uuid4() ..
      '","contact_email":"bench@example.com"}'
   return wrk.format("POST", "/api/v1/bookings", client_headers(true), body)
end

function response(status, headers, body)
   count_status(status)
   answered = answered + 1
   if stop_after_slice and answered >= #ids then
      wrk.thread:stop()
   end
end
