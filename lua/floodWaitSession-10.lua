--[[
  Telegram asked this session to wait: keep it out of circulation until
  now + wait — account-wide, or (with a scope) for that scope only. A rest
  never shortens a longer one already running on the same scope (or
  account-wide), and an invalidated session stays invalidated. An account-wide
  wait of 0 simply releases. Either way the session leaves `in_use`: with only
  scoped rests running it is free for other scopes (`rfree`, see src/pool/keys.ts).
  A session whose file is gone (field "<id>:g", see applySync) is never freed:
  it waits out its scoped rests in `flood`, then becomes invalidated
  "file_error: file_missing".

  Input:
    KEYS[1] free zset  KEYS[2] leased zset  KEYS[3] flood zset
    KEYS[4] invalid zset  KEYS[5] the session's bucket hash
    KEYS[6] rfree zset  KEYS[7] rend zset  KEYS[8] scopes zset  KEYS[9] health zset
    KEYS[10] events stream (lua/lib/history.lua)
    ARGV[1] session id   ARGV[2] wait (ms, >= 0)
    ARGV[3] lease token or ""   ARGV[4] pub/sub channel announcing freed sessions
    ARGV[5] scope (lowercased) or "" for an account-wide rest
    ARGV[6] per-scope rest zset prefix (the script derives "<prefix><scope>"
            for this scope and for ended rests it prunes)
    ARGV[7] "restricted" to mark the session's health so until an account-wide
            rest ends (POST /report), unless it has a mark (logged_out,
            banned, file_error: kept), or ""
    ARGV[8] the reported Telegram error name to record as the last error, or ""
    ARGV[9] events kept in the stream (XADD MAXLEN ~)
    ARGV[10] the event: "rest" (only when the session now rests: "rest" with
            scope and until, and a rest counted; "released" when a wait of 0
            only ended its lease), or "report" (POST /report,
            always: "report" with the error, action "rest" with scope and until
            and a rest counted; action "none" for an invalidated session)
  Output:
    {1, deadlineMs, state, name}  state: "floodwait" | "free" | "invalidated"
    -1 unknown id
    -2 lease mismatch
]]
--#include history
--#include place
local rcall = redis.call
local id = ARGV[1]
local fields = rcall('HMGET', KEYS[5], id, id .. ':t')
if not fields[1] then return -1 end
if ARGV[3] ~= '' and fields[2] ~= ARGV[3] then return -2 end
local name = string.match(fields[1], '^[^\t]*')
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
if ARGV[8] ~= '' then rcall('HSET', KEYS[5], id .. ':e', ARGV[8] .. '\t' .. now) end

-- Set when this call ended the session's lease without a rest (a wait of 0):
-- that is a release, and its history says so.
local released = false
-- The reply, with the change's history (ARGV[10]).
local function done(untilMs, state)
  local report = ARGV[10] == 'report'
  if state == 'invalidated' or (state ~= 'floodwait' and not report) then
    if report then addEvent(KEYS[10], ARGV[9], 'report', id, 'error', ARGV[8], 'action', 'none')
    elseif released then addEvent(KEYS[10], ARGV[9], 'released', id) end
    return {1, untilMs, state, name}
  end
  local extra = {}
  if ARGV[5] ~= '' then extra = {'scope', ARGV[5]} end
  extra[#extra + 1] = 'until'
  extra[#extra + 1] = tostring(untilMs)
  if report then
    for _, f in ipairs({'error', ARGV[8], 'action', 'rest'}) do extra[#extra + 1] = f end
  end
  addEvent(KEYS[10], ARGV[9], report and 'report' or 'rest', id, unpack(extra))
  countRest(KEYS[5], id, ARGV[5] ~= '' and ARGV[5] or '*', math.floor(tonumber(ARGV[2]) / 1000 + 0.5))
  return {1, untilMs, state, name}
end

if rcall('ZSCORE', KEYS[4], id) then
  return done(deadline, 'invalidated')
end

-- Available again (lua/lib/place.lua): 'free', 'rfree' (re: the end of its latest scoped rest), or for a gone
-- session 'flood' or 'invalidated'.
local sets = {free = KEYS[1], rfree = KEYS[6], rend = KEYS[7], flood = KEYS[3], invalid = KEYS[4]}
local function place(lru, re)
  return placeAvailable(sets, KEYS[5], id, lru, re, rcall('HEXISTS', KEYS[5], id .. ':g') == 1, now)
end

local function announce(where)
  announceFreed(ARGV[4], id, where)
end

local function stateOf(where)
  if where == 'free' then return 'free' elseif where == 'invalidated' then return 'invalidated' end
  return 'floodwait'
end

if ARGV[5] == '' then
  local current = tonumber(rcall('ZSCORE', KEYS[3], id) or '0')
  if current > deadline then deadline = current end

  if deadline <= now then
    -- wait 0 and no longer flood running: a plain release
    rcall('ZREM', KEYS[3], id)
    local where = 'free'
    released = rcall('ZREM', KEYS[2], id) == 1
    if released or not (rcall('ZSCORE', KEYS[1], id) or rcall('ZSCORE', KEYS[6], id)) then
      where = place(now, tonumber(rcall('HGET', KEYS[5], id .. ':re') or '0'))
      announce(where)
    end
    return done(now, stateOf(where))
  end

  rcall('ZREM', KEYS[1], id)
  rcall('ZREM', KEYS[2], id)
  rcall('ZREM', KEYS[6], id)
  rcall('ZREM', KEYS[7], id)
  rcall('ZADD', KEYS[3], deadline, id)
  if ARGV[7] == 'restricted' then
    -- a mark (1 logged_out, 2 banned, 3 file_error) outranks restricted: never overwritten by a deadline
    local hs = tonumber(rcall('ZSCORE', KEYS[9], id) or '0')
    if hs == 0 or hs > 3 then rcall('ZADD', KEYS[9], 'GT', deadline, id) end
  end
  return done(deadline, 'floodwait')
end

-- Scoped rest: record it, prune ended ones, then place the session.
local scope = ARGV[5]
local rests = {}
local rs = rcall('HGET', KEYS[5], id .. ':rs')
if rs then
  for s, dl in pairs(cjson.decode(rs)) do
    if dl > now then rests[s] = dl else rcall('ZREM', ARGV[6] .. s, id) end
  end
end
if (rests[scope] or 0) > deadline then deadline = rests[scope] end
if deadline > now then
  rests[scope] = deadline
  rcall('ZADD', ARGV[6] .. scope, deadline, id)
  rcall('ZADD', KEYS[8], 'GT', deadline, scope) -- GT still adds a new member
end
local re = 0
for _, dl in pairs(rests) do if dl > re then re = dl end end
if re > 0 then
  rcall('HSET', KEYS[5], id .. ':rs', cjson.encode(rests), id .. ':re', re)
else
  rcall('HDEL', KEYS[5], id .. ':rs', id .. ':re')
end

local flood = tonumber(rcall('ZSCORE', KEYS[3], id) or '0')
local wasLeased = rcall('ZREM', KEYS[2], id) == 1
released = wasLeased
if flood > now then
  -- an account-wide rest runs: it stays there, its scoped rests wait underneath
  return done(deadline, 'floodwait')
end
local lru = wasLeased and now or tonumber(rcall('ZSCORE', KEYS[1], id) or rcall('ZSCORE', KEYS[6], id) or now)
if flood > 0 then lru = flood end
rcall('ZREM', KEYS[3], id)
rcall('ZREM', KEYS[1], id)
rcall('ZREM', KEYS[6], id)
rcall('ZREM', KEYS[7], id)
local where = place(lru, re)
if wasLeased then announce(where) end
return done(deadline, stateOf(where))
