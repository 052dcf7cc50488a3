-- POST /api/v1/bookings: each request a slot from this thread's slice of BENCH_IDS_FILE and a
-- new random candidate. The slice wraps around when used up (the storm relies on it: 10 slots,
-- hundreds of candidates); with BENCH_STOP_AFTER_SLICE=1 the thread stops as soon as every slot
-- of its slice has been asked for (the expiry burst: exactly N holds, as fast as the service takes
-- them). The driver counts those holds in the database: the last answers in flight are not read,
-- and the one request wrk still sends after the stop is refused by the gate (a held slot).
dofile("common.lua")

local ids, next_id, issued, stop_after_slice

function init(args)
   seed_random()
   ids = read_slice()
   next_id, issued = 1, 0
   stop_after_slice = os.getenv("BENCH_STOP_AFTER_SLICE") == "1"
end

function request()
   if stop_after_slice and issued >= #ids then
      wrk.thread:stop()
   end
   issued = issued + 1
   local slot = ids[next_id]
   next_id = next_id % #ids + 1
   local body = '{"slot_id":"' .. slot .. '","candidate_id":"' .. uuid4() ..
      '","contact_email":"bench@example.com"}'
   return wrk.format("POST", "/api/v1/bookings", client_headers(true), body)
end

function response(status, headers, body)
   count_status(status)
end
