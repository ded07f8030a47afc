--[[
  End an invalidation or a flood wait now: the session becomes free. A leased
  session keeps its lease (restoring never takes a session from its worker).
  A session whose file is gone (field "<id>:g", see applySync) is never freed:
  it becomes (or stays) invalidated "file_error: file_missing". Nor is a
  duplicate (field "<id>:d": another session holds its auth key, see applySync):
  it stays invalidated.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    ARGV[1] session id   ARGV[2] pub/sub channel announcing freed sessions
  Output:
    "free" | "in_use" | "invalidated"  the state after the call
    -1 unknown id
]]
local rcall = redis.call
local id = ARGV[1]
if rcall('HEXISTS', KEYS[5], id) == 0 then return -1 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if rcall('HEXISTS', KEYS[5], id .. ':g') == 1 then
  -- its file is gone (see applySync): a rest ends, but out of circulation
  if rcall('ZREM', KEYS[3], id) == 1 or rcall('ZSCORE', KEYS[4], id) then
    rcall('ZADD', KEYS[4], now, id)
    rcall('HSET', KEYS[5], id .. ':r', 'file_error: file_missing')
    return 'invalidated'
  end
  local leaseEnd = rcall('ZSCORE', KEYS[2], id)
  if leaseEnd and tonumber(leaseEnd) > now then return 'in_use' end
  return 'invalidated'
end
-- a duplicate is out of circulation (invalidated) unless gone, handled above
if rcall('HEXISTS', KEYS[5], id .. ':d') == 1 then return 'invalidated' end
if rcall('ZREM', KEYS[4], id) + rcall('ZREM', KEYS[3], id) > 0 then
  rcall('ZADD', KEYS[1], now, id)
  rcall('HDEL', KEYS[5], id .. ':r')
  rcall('PUBLISH', ARGV[2], id)
  return 'free'
end
local leaseEnd = rcall('ZSCORE', KEYS[2], id)
if leaseEnd and tonumber(leaseEnd) > now then return 'in_use' end
return 'free'
