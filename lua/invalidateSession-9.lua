--[[
  Take a session out of circulation until an operator restores it. Idempotent.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    KEYS[6] rfree zset  KEYS[7] rend zset  KEYS[8] health zset
    KEYS[9] events stream (lua/lib/history.lua)
    ARGV[1] session id   ARGV[2] reason, or "" for none
    ARGV[3] lease token, or "" when the caller gave none
    ARGV[4] health code to set (src/pool/keys.ts: 1 logged_out, 2 banned), or ""
    ARGV[5] the reported Telegram error name to record as the last error, or ""
    ARGV[6] events kept in the stream (XADD MAXLEN ~)
    ARGV[7] the event: "report" (POST /report: "report" with error ARGV[5] and
            action "invalidate", whenever the id is known and the lease matches),
            else "invalidated", only when invalidated now
    ARGV[8] "1": the "invalidated" event carries the reason field (ARGV[2], even
            ""; the caller gave one), else it has none
  Output:
    0 unknown id   1 invalidated now   2 already invalidated (reason updated when given)
    -2 lease mismatch: a token was given and it is not the session's lease
       (the current one, or the last one when the lease already ended)
]]
--#include history
local rcall = redis.call
local id = ARGV[1]
if rcall('HEXISTS', KEYS[5], id) == 0 then return 0 end
if ARGV[3] ~= '' and rcall('HGET', KEYS[5], id .. ':t') ~= ARGV[3] then return -2 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[5] ~= '' then rcall('HSET', KEYS[5], id .. ':e', ARGV[5] .. '\t' .. now) end
if ARGV[4] ~= '' then rcall('ZADD', KEYS[8], ARGV[4], id) end
if ARGV[7] == 'report' then addEvent(KEYS[9], ARGV[6], 'report', id, 'error', ARGV[5], 'action', 'invalidate') end
if rcall('ZSCORE', KEYS[4], id) then
  if ARGV[2] ~= '' then rcall('HSET', KEYS[5], id .. ':r', ARGV[2]) end
  return 2
end
rcall('ZREM', KEYS[1], id)
rcall('ZREM', KEYS[2], id)
rcall('ZREM', KEYS[3], id)
rcall('ZREM', KEYS[6], id)
rcall('ZREM', KEYS[7], id)
rcall('ZADD', KEYS[4], now, id)
if ARGV[7] ~= 'report' then
  if ARGV[8] == '1' then addEvent(KEYS[9], ARGV[6], 'invalidated', id, 'reason', ARGV[2]) else addEvent(KEYS[9], ARGV[6], 'invalidated', id) end
end
if ARGV[2] ~= '' then rcall('HSET', KEYS[5], id .. ':r', ARGV[2]) else rcall('HDEL', KEYS[5], id .. ':r') end
return 1
