--[[
  One page of the operator listing, in id order, with each session's state as
  of now. Bounded work per call: at most ARGV[5] ids are examined, so a page
  may hold fewer than the limit; the cursor says where to go on.

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset  KEYS[4] invalid zset
    KEYS[5] seq string   KEYS[6] rend zset   KEYS[7] health zset (codes in src/pool/keys.ts)
    ARGV[1] session bucket key prefix (the script derives each session's bucket
            "<prefix><floor(id / ARGV[6])>"; layout in src/pool/keys.ts)
    ARGV[2] cursor: list ids greater than this
    ARGV[3] limit   ARGV[4] state filter or ""   ARGV[5] ids to examine at most
    ARGV[6] sessions per bucket
    ARGV[7] health filter ("ok", "restricted", "logged_out", "banned", "file_error") or ""
    ARGV[8] tag filter: the tag's id set key ("<tag prefix><tag>", derived by the caller), or ""
    ARGV[9] scope filter: the scope's rest zset key ("<rest prefix><scope>"), or ""
  Output:
    {nextCursor or -1, nowMs, id, "name<TAB>metaJson", state, deadlineMs or -1, reason,
     scoped rests JSON {scope: deadlineMs} or "", health score or -1,
     last error "<NAME><TAB><ms>" or "", counters JSON or "", fileMissing (1|0), id, ...}
  A session with only scoped rests running is in "floodwait" until the last
  one ends (as /status counts it); its rests say which scopes.
  A session whose file is gone (field "<id>:g", see applySync) and whose lease
  or rest has ended is listed as it will be once promoted: invalidated.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(rcall('GET', KEYS[5]) or '0')
local after, limit, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local out = {-1, now}
local found = 0
local id = after
while id < last and found < limit and budget > 0 do
  id = id + 1
  budget = budget - 1
  local f = rcall('HMGET', ARGV[1] .. math.floor(id / tonumber(ARGV[6])), id, id .. ':r', id .. ':rs', id .. ':e', id .. ':c', id .. ':g')
  if f[1] then
    local state, deadline = 'free', -1
    local sid = tostring(id)
    if rcall('ZSCORE', KEYS[4], sid) then
      state = 'invalidated'
    else
      local leaseEnd = tonumber(rcall('ZSCORE', KEYS[2], sid) or '0')
      local floodEnd = tonumber(rcall('ZSCORE', KEYS[3], sid) or '0')
      local restEnd = tonumber(rcall('ZSCORE', KEYS[6], sid) or '0')
      if leaseEnd > now then state, deadline = 'in_use', leaseEnd
      elseif floodEnd > now then state, deadline = 'floodwait', floodEnd
      elseif restEnd > now then state, deadline = 'floodwait', restEnd
      elseif f[6] then state, f[2] = 'invalidated', 'file_error: file_missing' end
    end
    local hs = tonumber(rcall('ZSCORE', KEYS[7], sid) or '-1')
    local health = 'ok'
    if hs == 1 then health = 'logged_out' elseif hs == 2 then health = 'banned'
    elseif hs == 3 then health = 'file_error' elseif hs > now then health = 'restricted' end
    if (ARGV[4] == '' or ARGV[4] == state)
      and (ARGV[7] == '' or ARGV[7] == health)
      and (ARGV[8] == '' or rcall('SISMEMBER', ARGV[8], sid) == 1)
      and (ARGV[9] == '' or tonumber(rcall('ZSCORE', ARGV[9], sid) or '0') > now) then
      found = found + 1
      local n = #out
      out[n + 1] = id
      out[n + 2] = f[1]
      out[n + 3] = state
      out[n + 4] = deadline
      out[n + 5] = f[2] or ''
      out[n + 6] = f[3] or ''
      out[n + 7] = hs
      out[n + 8] = f[4] or ''
      out[n + 9] = f[5] or ''
      out[n + 10] = f[6] and 1 or 0
    end
  end
end
if id < last then out[1] = id end
return out
