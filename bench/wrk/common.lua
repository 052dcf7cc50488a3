-- Shared by every bench script (loaded with dofile; wrk runs with this folder as cwd).
-- Counts responses by status in each thread and prints the whole run as one JSON line,
-- so the driver (bench/load.py) never parses wrk's human-readable report.
-- Settings come from the environment: BENCH_API_KEY, BENCH_SEED, BENCH_THREADS, ...

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

statuses = {}

function count_status(status)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function seed_random()
   math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1") + 7919 * (tid or 0))
end

local function hex(n)
   local out = {}
   for i = 1, n do out[i] = string.format("%x", math.random(0, 15)) end
   return table.concat(out)
end

-- A random version-4 UUID: a new candidate for each hold.
function uuid4()
   return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" ..
      string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

function client_headers(with_body)
   local headers = {["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "")}
   if with_body then headers["Content-Type"] = "application/json" end
   return headers
end

-- This thread's share of the ids in BENCH_IDS_FILE: every BENCH_THREADS-th line, so no two
-- threads ever use the same slot.
function read_slice()
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local ids, i = {}, 0
   for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
      if i % nthreads == tid then table.insert(ids, line) end
      i = i + 1
   end
   return ids
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses") or {}) do
         merged[status] = (merged[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "stdev": %.1f, ' ..
      '"p50": %d, "p75": %d, "p90": %d, "p99": %d, "p99_9": %d}, "statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max, latency.stdev,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), table.concat(parts, ", ")))
end
