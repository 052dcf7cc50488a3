"""Every Lua script the service runs in Redis.

Keys are released and re-timed only by their owner: compare-and-delete and
compare-and-pexpireat, never a plain DEL; each of those takes a batch of keys
(one key is a batch of one). A hold spends its rate limit and takes the
slot's lock in one script, so a refused click is one round trip.
"""

# KEYS[i] is deleted if it still holds ARGV[i]; returns how many were.
DELETE_IF_OWNED = """
local removed = 0
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[i] then removed = removed + redis.call('del', key) end
end
return removed
"""

# KEYS[i] expires at ARGV[2i] (ms) if it still holds ARGV[2i-1]; returns how many did.
RETIME_IF_OWNED = """
local retimed = 0
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[2 * i - 1] then
    retimed = retimed + redis.call('pexpireat', key, ARGV[2 * i])
  end
end
return retimed
"""

# A hold within its rate limit, in one call. KEYS[1] is the slot's lock, taken
# as `SET KEYS[1] ARGV[1] NX PX ARGV[2] GET`: returns its holder, or nil when
# this call took it. KEYS[2..] are fixed-window counters, each hit once first
# (INCR, PEXPIRE on the window's first hit: the `limits` library's fixed
# window); KEYS[i] allows ARGV[2i-1] hits per ARGV[2i] ms. Over any of them,
# the lock is left alone and the reply is {ms until every such window ends}.
HOLD_WITHIN_LIMIT = """
local wait = -1
for i = 2, #KEYS do
  local hits = redis.call('incr', KEYS[i])
  if hits == 1 then redis.call('pexpire', KEYS[i], ARGV[2 * i]) end
  if hits > tonumber(ARGV[2 * i - 1]) then
    local left = redis.call('pttl', KEYS[i])
    if left < 0 then left = tonumber(ARGV[2 * i]) end
    if left > wait then wait = left end
  end
end
if wait >= 0 then return {wait} end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2], 'GET')
"""
