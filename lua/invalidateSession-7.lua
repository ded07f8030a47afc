--[[
  Take a session out of circulation until an operator restores it. Idempotent.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    KEYS[6] rfree zset  KEYS[7] rend zset
    ARGV[1] session id   ARGV[2] reason, or "" for none
  Output:
    0 unknown id   1 invalidated now   2 already invalidated (reason updated when given)
]]
local rcall = redis.call
local id = ARGV[1]
if rcall('HEXISTS', KEYS[5], id) == 0 then return 0 end
if rcall('ZSCORE', KEYS[4], id) then
  if ARGV[2] ~= '' then rcall('HSET', KEYS[5], id .. ':r', ARGV[2]) end
  return 2
end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
rcall('ZREM', KEYS[1], id)
rcall('ZREM', KEYS[2], id)
rcall('ZREM', KEYS[3], id)
rcall('ZREM', KEYS[6], id)
rcall('ZREM', KEYS[7], id)
rcall('ZADD', KEYS[4], now, id)
if ARGV[2] ~= '' then rcall('HSET', KEYS[5], id .. ':r', ARGV[2]) else rcall('HDEL', KEYS[5], id .. ':r') end
return 1
