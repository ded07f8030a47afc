--[[
  Telegram asked this session to wait: keep it out of circulation until
  now + wait. A flood wait never shortens a longer one already running, and an
  invalidated session stays invalidated. wait = 0 simply releases (a session
  whose file is gone becomes invalidated "file_error: file_missing" instead).

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    ARGV[1] session id   ARGV[2] wait (ms, >= 0)
    ARGV[3] lease token or ""   ARGV[4] pub/sub channel announcing freed sessions
  Output:
    {1, deadlineMs, state, name}  state: "floodwait" | "free" | "invalidated"
    -1 unknown id
    -2 lease mismatch
]]
local rcall = redis.call
local id = ARGV[1]
local fields = rcall('HMGET', KEYS[5], id, id .. ':t')
if not fields[1] then return -1 end
if ARGV[3] ~= '' and fields[2] ~= ARGV[3] then return -2 end
local name = string.match(fields[1], '^[^\t]*')
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])

if rcall('ZSCORE', KEYS[4], id) then
  return {1, deadline, 'invalidated', name}
end

local current = tonumber(rcall('ZSCORE', KEYS[3], id) or '0')
if current > deadline then deadline = current end

if deadline <= now then
  -- wait 0 and no longer flood running: a plain release, except for a session
  -- whose file is gone (see applySync): it goes out as invalidated file_missing
  rcall('ZREM', KEYS[3], id)
  if rcall('HEXISTS', KEYS[5], id .. ':g') == 1 then
    rcall('ZREM', KEYS[1], id)
    rcall('ZREM', KEYS[2], id)
    rcall('ZADD', KEYS[4], now, id)
    rcall('HSET', KEYS[5], id .. ':r', 'file_error: file_missing')
    return {1, now, 'invalidated', name}
  end
  if rcall('ZREM', KEYS[2], id) == 1 or not rcall('ZSCORE', KEYS[1], id) then
    rcall('ZADD', KEYS[1], now, id)
    rcall('PUBLISH', ARGV[4], id)
  end
  return {1, now, 'free', name}
end

rcall('ZREM', KEYS[1], id)
rcall('ZREM', KEYS[2], id)
rcall('ZADD', KEYS[3], deadline, id)
return {1, deadline, 'floodwait', name}
