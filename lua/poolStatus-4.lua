--[[
  Counts per state as of now, without scans (ZCARD/ZCOUNT: O(log n)).
  Expired leases and past flood deadlines count as free before any reaper ran.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset  KEYS[4] invalid zset
  Output:
    {free, inUse, inFloodwait (flood + invalid), invalidated, nextDeadlineMs or -1, nowMs}
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local inUse = rcall('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local flooded = rcall('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local invalid = rcall('ZCARD', KEYS[4])
local free = rcall('ZCARD', KEYS[1])
  + (rcall('ZCARD', KEYS[2]) - inUse)
  + (rcall('ZCARD', KEYS[3]) - flooded)
local nextDl = rcall('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {free, inUse, flooded + invalid, invalid, nextDl[2] and tonumber(nextDl[2]) or -1, now}
