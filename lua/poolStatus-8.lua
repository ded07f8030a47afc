--[[
  Counts per state as of now, without scans (ZCARD/ZCOUNT: O(log n)), plus
  one count per scope with running rests (O(scopes · log n)).
  Expired leases and past flood deadlines count as free before any reaper ran,
  except those of a session whose file is gone (field "<id>:g", see applySync):
  they count as invalidated, as acquire and the reaper will make them. Only the
  first ARGV[5] such entries per set are examined (the reaper keeps them few).
  A session with only scoped rests (`rfree`) counts in inFloodwait until its
  last scoped rest ends: an unscoped client cannot get it.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset  KEYS[4] invalid zset
    KEYS[5] rfree zset  KEYS[6] rend zset  KEYS[7] scopes zset  KEYS[8] health zset
    ARGV[1] per-scope rest zset prefix (the script derives "<prefix><scope>"
            for each scope in KEYS[7] whose latest deadline is still ahead)
    ARGV[2] at most this many scopes with running rests are counted
    ARGV[3] session bucket key prefix (bucket "<prefix><floor(id / ARGV[4])>"; see src/pool/keys.ts)
    ARGV[4] sessions per bucket   ARGV[5] ended entries examined per set at most
  Output:
    {free, inUse, inFloodwait (flood + invalid + scoped only), invalidated,
     nextDeadlineMs or -1, nowMs, restricted, loggedOut, banned, fileError,
     scope, count, scope, count, ...}
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function goneEnded(key)
  local n = 0
  for _, id in ipairs(rcall('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))) do
    n = n + rcall('HEXISTS', ARGV[3] .. math.floor(tonumber(id) / tonumber(ARGV[4])), id .. ':g')
  end
  return n
end
local inUse = rcall('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local flooded = rcall('ZCOUNT', KEYS[3], '(' .. now, '+inf')
local rested = rcall('ZCOUNT', KEYS[6], '(' .. now, '+inf')
local invalid = rcall('ZCARD', KEYS[4]) + goneEnded(KEYS[2]) + goneEnded(KEYS[3])
local free = rcall('ZCARD', KEYS[1])
  + (rcall('ZCARD', KEYS[2]) - inUse)
  + (rcall('ZCARD', KEYS[3]) - flooded)
  + (rcall('ZCARD', KEYS[6]) - rested)
  - (invalid - rcall('ZCARD', KEYS[4]))
local nextDl = -1
for _, key in ipairs({KEYS[3], KEYS[6]}) do
  local first = rcall('ZRANGEBYSCORE', key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] and (nextDl < 0 or tonumber(first[2]) < nextDl) then nextDl = tonumber(first[2]) end
end
local out = {free, inUse, flooded + rested + invalid, invalid, nextDl, now,
  rcall('ZCOUNT', KEYS[8], '(' .. now, '+inf'), rcall('ZCOUNT', KEYS[8], 1, 1),
  rcall('ZCOUNT', KEYS[8], 2, 2), rcall('ZCOUNT', KEYS[8], 3, 3)}
-- A scope whose rests all ended early (/restore, a removed session) keeps its
-- recorded deadline in KEYS[7] until it passes: it counts 0 and is skipped, and
-- the walk goes on past it, so up to ARGV[2] running scopes are still listed
-- (bounded by the scopes whose recorded deadline is ahead).
local want, offset = tonumber(ARGV[2]), 0
while want > 0 do
  local page = rcall('ZRANGEBYSCORE', KEYS[7], '(' .. now, '+inf', 'LIMIT', offset, want)
  if #page == 0 then break end
  offset = offset + #page
  for _, scope in ipairs(page) do
    local n = rcall('ZCOUNT', ARGV[1] .. scope, '(' .. now, '+inf')
    if n > 0 then
      out[#out + 1] = scope
      out[#out + 1] = n
      want = want - 1
    end
  end
end
return out
