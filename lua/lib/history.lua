-- lua/lib/history.lua: pasted by src/pool/scripts.ts (readScripts) where a
-- script has the line `--#include history`. History and counters are written
-- by the script that makes the change they describe, so both are atomic with
-- it: a change that happened always has its event, one that did not never has.
--
-- addEvent(stream, maxLen, kind, id, ...): XADD MAXLEN ~ maxLen of one event:
--   "t" kind, "sid" id, then the optional fields as name/value pairs
--   (src/pool/redis.ts parseEvent reads them). Returns the entry's id.
-- countIssued(bucket, id, delta) / countRest(bucket, id, scope, seconds): the
--   session's counters field "<id>:c", JSON {i, n, s, r: {scope: n}}
--   (src/pool/keys.ts): times issued (delta -1 undoes a cancelled acquire);
--   rests, seconds rested and rests per scope ("*": account-wide).
local function addEvent(stream, maxLen, kind, id, ...)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxLen, '*', 't', kind, 'sid', id, ...)
end

local function updateCounters(bucket, id, bump)
  local raw = redis.call('HGET', bucket, id .. ':c')
  local c = raw and cjson.decode(raw) or {}
  bump(c)
  redis.call('HSET', bucket, id .. ':c', cjson.encode(c))
end

local function countIssued(bucket, id, delta)
  updateCounters(bucket, id, function(c) c.i = math.max(0, (c.i or 0) + delta) end)
end

local function countRest(bucket, id, scope, seconds)
  updateCounters(bucket, id, function(c)
    c.n = (c.n or 0) + 1
    c.s = (c.s or 0) + seconds
    if type(c.r) ~= 'table' then c.r = {} end
    c.r[scope] = (c.r[scope] or 0) + 1
  end)
end
