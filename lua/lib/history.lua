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
--   issuedCounters(raw, delta): the same text countIssued would write, for a
--   script that reads and writes the session's fields in one command each.
--
-- Both are written after the change they describe, and a script's writes
-- before an error stay: so neither may fail the script. An events key of
-- another type (tampering) loses the event (addEvent returns ""), a counters
-- field that is not JSON starts over from zero; the change itself, and what
-- the script writes after it (the acquire's token key, the epoch counter),
-- always happen.
local function addEvent(stream, maxLen, kind, id, ...)
  local r = redis.pcall('XADD', stream, 'MAXLEN', '~', maxLen, '*', 't', kind, 'sid', id, ...)
  if type(r) ~= 'string' then return '' end
  return r
end

-- The counters text `raw` (nil: none yet) after `bump`: never an error. Text that is not a JSON object, or
-- whose bumped values cannot be written back (a tampered 1e999 is inf), starts over from zero.
local function bumpedCounters(raw, bump)
  local ok, c = pcall(cjson.decode, raw or '{}')
  if not ok or type(c) ~= 'table' then c = {} end
  bump(c)
  local encoded, text = pcall(cjson.encode, c)
  if encoded then return text end
  c = {}
  bump(c)
  return cjson.encode(c)
end

local function updateCounters(bucket, id, bump)
  redis.call('HSET', bucket, id .. ':c', bumpedCounters(redis.call('HGET', bucket, id .. ':c'), bump))
end

local function issuedBump(delta)
  return function(c) c.i = math.max(0, (tonumber(c.i) or 0) + delta) end
end

-- The counters text after `delta` issues, from the text read (for a script that reads and writes the bucket once).
local function issuedCounters(raw, delta)
  return bumpedCounters(raw, issuedBump(delta))
end

local function countIssued(bucket, id, delta)
  updateCounters(bucket, id, issuedBump(delta))
end

local function countRest(bucket, id, scope, seconds)
  updateCounters(bucket, id, function(c)
    c.n = (tonumber(c.n) or 0) + 1
    c.s = (tonumber(c.s) or 0) + seconds
    if type(c.r) ~= 'table' then c.r = {} end
    c.r[scope] = (tonumber(c.r[scope]) or 0) + 1
  end)
end
