--[[
  Counts per state as of now, without scans (ZCARD/ZCOUNT: O(log n)).
  Expired leases and past flood deadlines count as free before any reaper ran,
  except those of a session whose file is gone (field "<id>:g", see applySync):
  they count as invalidated, as acquire and the reaper will make them. Only the
  first ARGV[3] such entries per set are examined (the reaper keeps them few).

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset  KEYS[4] invalid zset
    ARGV[1] session bucket key prefix (bucket "<prefix><floor(id / ARGV[2])>"; see src/pool/keys.ts)
    ARGV[2] sessions per bucket   ARGV[3] ended entries examined per set at most
  Output:
    {free, inUse, inFloodwait (flood + invalid), invalidated, nextDeadlineMs or -1, nowMs}
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function goneEnded(key)
  local n = 0
  for _, id in ipairs(rcall('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
    n = n + rcall('HEXISTS', ARGV[1] .. math.floor(tonumber(id) / tonumber(ARGV[2])), id .. ':g')
  end
  return n
end
local inUse = rcall('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local flooded = rcall('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local invalid = rcall('ZCARD', KEYS[4]) + goneEnded(KEYS[2]) + goneEnded(KEYS[3])
local free = rcall('ZCARD', KEYS[1])
  + (rcall('ZCARD', KEYS[2]) - inUse)
  + (rcall('ZCARD', KEYS[3]) - flooded)
  - (invalid - rcall('ZCARD', KEYS[4]))
local nextDl = rcall('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {free, inUse, flooded + invalid, invalid, nextDl[2] and tonumber(nextDl[2]) or -1, now}
