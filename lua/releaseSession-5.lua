--[[
  Give a leased session back to the pool. Idempotent.

  Input:
    KEYS[1] free zset   KEYS[2] leased zset   KEYS[3] the session's bucket hash
    KEYS[4] rfree zset  KEYS[5] rend zset
    ARGV[1] session id
    ARGV[2] lease token, or "" when the caller gave none
    ARGV[3] pub/sub channel announcing freed sessions
  Output:
    0  unknown id (nothing to do)
    1  not in use (free, flood wait or invalidated: left as it is)
    2  released (now free, or free for scopes it does not rest on)
    -2 lease mismatch: a token was given and it is not the session's lease
       (the current one, or the last one when the lease already ended)
  A session with a running scoped rest goes to `rfree` (announced as
  "scoped:<id>": only scoped waiters can use it), else to `free`.
]]
local rcall = redis.call
if rcall('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' and rcall('HGET', KEYS[3], ARGV[1] .. ':t') ~= ARGV[2] then return -2 end
if not rcall('ZSCORE', KEYS[2], ARGV[1]) then return 1 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
rcall('ZREM', KEYS[2], ARGV[1])
local re = tonumber(rcall('HGET', KEYS[3], ARGV[1] .. ':re') or '0')
if re > now then
  rcall('ZADD', KEYS[4], now, ARGV[1])
  rcall('ZADD', KEYS[5], re, ARGV[1])
  rcall('PUBLISH', ARGV[3], 'scoped:' .. ARGV[1])
else
  rcall('ZADD', KEYS[1], now, ARGV[1])
  rcall('PUBLISH', ARGV[3], ARGV[1])
end
return 2
