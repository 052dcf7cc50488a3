-- GET one path again and again (BENCH_PATH): the ceiling and the hub-day listing.
-- Both go through the same script so the client's own cost is the same for both.
dofile("common.lua")

local prepared

function init(args)
   prepared = wrk.format("GET", os.getenv("BENCH_PATH"), client_headers(false))
end

function request()
   return prepared
end

function response(status, headers, body)
   count_status(status)
end
