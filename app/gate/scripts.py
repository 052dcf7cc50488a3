"""Every Lua script the service runs in Redis. Each takes a batch of keys; one key is a batch of one.

Keys are released and re-timed only by their owner: compare-and-delete and
compare-and-pexpireat, never a plain DEL.
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
