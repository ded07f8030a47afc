--[[
  Apply one batch of a sync: register new session files, update changed ones,
  remove sessions whose file is gone. Idempotent: two syncs applying the same
  batch end in the same state.

  A file that is gone never ends a lease or a rest: a session that is leased
  (in the leased set, expired or not) or in a running flood wait keeps its id,
  token and deadline and is only marked gone (field "<id>:g"; its stored
  signature becomes "gone", GONE_SIG in src/pool/keys.ts, so sync sends the
  file again when it returns). A gone session
  is never issued; when its lease or rest ends it becomes invalidated with
  reason "file_error: file_missing", and a later sync removes it (file still
  missing) or brings it back as free (file returned). An upsert clears the mark.

  Input:
    KEYS[1] seq string   KEYS[2] ids hash (name -> "id" or "id:sig")
    KEYS[3] free zset    KEYS[4] leased zset   KEYS[5] flood zset   KEYS[6] invalid zset
    KEYS[7] fence string (the leader's fencing token)
    ARGV[1] fence expected, or "" for an unfenced (manual) sync
    ARGV[2] session bucket key prefix, e.g. "{telegate}:s:" (the script derives
            each session's bucket "<prefix><floor(id / ARGV[5])>"; layout in src/pool/keys.ts)
    ARGV[3] JSON {"u": [{"n": name, "m": metaJson, "s": sig or "", "e": fileError or ""}...],
                  "r": [name...]}
    ARGV[4] pub/sub channel announcing freed sessions
    ARGV[5] sessions per bucket
  Output:
    {added, removed, updated}   (a session only marked gone is not counted)
    -3 the fence is stale (a deposed leader): nothing written
  New sessions enter `free` scored by their id, far below any real time, so
  never-used sessions are issued first (oldest registration first).
]]
local rcall = redis.call
if ARGV[1] ~= '' and rcall('GET', KEYS[7]) ~= ARGV[1] then return -3 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local batch = cjson.decode(ARGV[3])
local added, removed, updated = 0, 0, 0
local prefix, perBucket = ARGV[2], tonumber(ARGV[5])

local function idOf(v) return v and string.match(v, '^(%d+)') end
local function bucketOf(id) return prefix .. math.floor(tonumber(id) / perBucket) end

-- A broken file takes its session out of circulation, but like a missing file it
-- never ends a lease or a running rest (the holder is still using the account):
-- such a session is marked gone, with no real signature so the next sync re-reads
-- the file, and goes out as invalidated when its lease or rest ends.
local function setFileError(id, h, name, err)
  rcall('HSET', h, id .. ':r', 'file_error: ' .. err)
  if rcall('ZSCORE', KEYS[4], id) or tonumber(rcall('ZSCORE', KEYS[5], id) or '0') > now then
    rcall('HSET', h, id .. ':g', '1')
    rcall('HSET', KEYS[2], name, id .. ':gone')
  elseif not rcall('ZSCORE', KEYS[6], id) then
    rcall('ZREM', KEYS[3], id)
    rcall('ZREM', KEYS[4], id)
    rcall('ZREM', KEYS[5], id)
    rcall('ZADD', KEYS[6], now, id)
  end
end

for _, u in ipairs(batch.u or {}) do
  local idValue = function(id) if u.s ~= '' then return id .. ':' .. u.s end return tostring(id) end
  local id = idOf(rcall('HGET', KEYS[2], u.n))
  if not id then
    id = tostring(rcall('INCR', KEYS[1]))
    local h = bucketOf(id)
    rcall('HSET', KEYS[2], u.n, idValue(id))
    rcall('HSET', h, id, u.n .. '\t' .. u.m)
    rcall('HDEL', h, id .. ':g') -- the file is back (if it was gone): the session simply continues
    if u.e ~= '' then setFileError(id, h, u.n, u.e) else rcall('ZADD', KEYS[3], tonumber(id), id) end
    added = added + 1
  else
    local h = bucketOf(id)
    rcall('HSET', KEYS[2], u.n, idValue(id))
    rcall('HSET', h, id, u.n .. '\t' .. u.m)
    rcall('HDEL', h, id .. ':g') -- the file is back (if it was gone): the session simply continues
    if u.e ~= '' then
      setFileError(id, h, u.n, u.e)
    else
      local reason = rcall('HGET', h, id .. ':r')
      if reason and string.sub(reason, 1, 11) == 'file_error:' then
        -- the file was repaired: back into circulation (a leased or resting one simply continues)
        rcall('HDEL', h, id .. ':r')
        if rcall('ZREM', KEYS[6], id) == 1 then rcall('ZADD', KEYS[3], now, id) end
      end
    end
    updated = updated + 1
  end
end

for _, name in ipairs(batch.r or {}) do
  local id = idOf(rcall('HGET', KEYS[2], name))
  local floodEnd = id and tonumber(rcall('ZSCORE', KEYS[5], id) or '0')
  if id and (rcall('ZSCORE', KEYS[4], id) or floodEnd > now) then
    -- leased or resting: keep id, token and deadline; never issued again while gone
    rcall('HSET', bucketOf(id), id .. ':g', '1')
    rcall('HSET', KEYS[2], name, id .. ':gone')
  elseif id then
    rcall('ZREM', KEYS[3], id)
    rcall('ZREM', KEYS[4], id)
    rcall('ZREM', KEYS[5], id)
    rcall('ZREM', KEYS[6], id)
    rcall('HDEL', bucketOf(id), id, id .. ':t', id .. ':r', id .. ':g')
    rcall('HDEL', KEYS[2], name)
    removed = removed + 1
  end
end

if added > 0 then rcall('PUBLISH', ARGV[4], 'sync') end
return {added, removed, updated}
