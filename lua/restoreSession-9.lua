--[[
  End an invalidation or a rest (account-wide and scoped) now: the session
  becomes free, its health ok (the only way out of `banned`). A leased
  session keeps its lease (restoring never takes a session from its worker),
  but its rests end too. A session whose file is gone (field "<id>:g", see
  applySync) is never freed: it becomes (or stays) invalidated
  "file_error: file_missing". Nor is a duplicate (field "<id>:d": another
  session holds its auth key, see applySync): it stays invalidated, its rests
  and health (file_error) as they are.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    KEYS[6] rfree zset  KEYS[7] rend zset  KEYS[8] health zset
    KEYS[9] events stream: a known id appends "restored" (lua/lib/history.lua)
    ARGV[1] session id   ARGV[2] pub/sub channel announcing freed sessions
    ARGV[3] per-scope rest zset prefix (the script derives "<prefix><scope>"
            for each scope the session rests on, from its "<id>:rs" field)
    ARGV[4] events kept in the stream (XADD MAXLEN ~)
  Output:
    "free" | "in_use" | "invalidated"  the state after the call
    -1 unknown id
]]
--#include history
local rcall = redis.call
local id = ARGV[1]
if rcall('HEXISTS', KEYS[5], id) == 0 then return -1 end
addEvent(KEYS[9], ARGV[4], 'restored', id)
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- a duplicate is out of circulation (invalidated) unless gone, handled below
if rcall('HEXISTS', KEYS[5], id .. ':d') == 1 and rcall('HEXISTS', KEYS[5], id .. ':g') == 0 then
  return 'invalidated'
end
local rs = rcall('HGET', KEYS[5], id .. ':rs')
if rs then
  for scope in pairs(cjson.decode(rs)) do rcall('ZREM', ARGV[3] .. scope, id) end
  rcall('HDEL', KEYS[5], id .. ':rs', id .. ':re')
end
rcall('ZREM', KEYS[7], id)
rcall('ZREM', KEYS[8], id)
if rcall('HEXISTS', KEYS[5], id .. ':g') == 1 then
  -- its file is gone (see applySync): a rest ends, but out of circulation
  if rcall('ZREM', KEYS[3], id) + rcall('ZREM', KEYS[6], id) > 0 or rcall('ZSCORE', KEYS[4], id) then
    rcall('ZADD', KEYS[4], now, id)
    rcall('HSET', KEYS[5], id .. ':r', 'file_error: file_missing')
    return 'invalidated'
  end
  local leaseEnd = rcall('ZSCORE', KEYS[2], id)
  if leaseEnd and tonumber(leaseEnd) > now then return 'in_use' end
  return 'invalidated'
end
if rcall('ZREM', KEYS[4], id) + rcall('ZREM', KEYS[3], id) + rcall('ZREM', KEYS[6], id) > 0 then
  rcall('ZADD', KEYS[1], now, id)
  rcall('HDEL', KEYS[5], id .. ':r')
  rcall('PUBLISH', ARGV[2], id)
  return 'free'
end
local leaseEnd = rcall('ZSCORE', KEYS[2], id)
if leaseEnd and tonumber(leaseEnd) > now then return 'in_use' end
return 'free'
