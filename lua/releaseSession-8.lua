--[[
  Give a leased session back to the pool. Idempotent.

  A session with a running scoped rest goes to `rfree` (announced as
  "scoped:<id>": only scoped waiters can use it), else to `free`. A session
  whose file is gone (field "<id>:g", see applySync) is not freed: it waits
  out its scoped rests in `flood` (never issued), or goes out of circulation
  as invalidated "file_error: file_missing" until a sync removes or repairs it.

  Input:
    KEYS[1] free zset   KEYS[2] leased zset   KEYS[3] the session's bucket hash
    KEYS[4] invalid zset   KEYS[5] rfree zset   KEYS[6] rend zset   KEYS[7] flood zset
    KEYS[8] events stream: a release appends "released" (lua/lib/history.lua)
    ARGV[1] session id
    ARGV[2] lease token, or "" when the caller gave none
    ARGV[3] pub/sub channel announcing freed sessions
    ARGV[4] events kept in the stream (XADD MAXLEN ~)
  Output:
    0  unknown id (nothing to do)
    1  not in use (free, flood wait or invalidated: left as it is)
    2  released (now free, free for scopes it does not rest on, or out when its file is gone)
    -2 lease mismatch: a token was given and it is not the session's lease
       (the current one, or the last one when the lease already ended)
]]
--#include history
--#include place
local rcall = redis.call
local id = ARGV[1]
-- One read of what the release needs from the bucket: the session (its meta), its lease token, the end of its
-- latest scoped rest, whether its file is gone.
local f = rcall('HMGET', KEYS[3], id, id .. ':t', id .. ':re', id .. ':g')
if not f[1] then return 0 end
if ARGV[2] ~= '' and f[2] ~= ARGV[2] then return -2 end
if rcall('ZREM', KEYS[2], id) == 0 then return 1 end -- not leased: nothing to do
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
addEvent(KEYS[8], ARGV[4], 'released', id)
local sets = {free = KEYS[1], rfree = KEYS[5], rend = KEYS[6], flood = KEYS[7], invalid = KEYS[4]}
announceFreed(ARGV[3], id, placeAvailable(sets, KEYS[3], id, now, tonumber(f[3] or '0'), f[4] ~= false, now))
return 2
