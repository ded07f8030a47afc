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
    KEYS[8] fingerprints hash (auth-key fingerprint -> id of the session holding that key)
    ARGV[1] fence expected, or "" for an unfenced (manual) sync
    ARGV[2] session bucket key prefix, e.g. "{telegate}:s:" (the script derives
            each session's bucket "<prefix><floor(id / ARGV[5])>"; layout in src/pool/keys.ts)
    ARGV[3] JSON {"u": [{"n": name, "m": metaJson, "s": sig or "", "e": fileError or "",
                         "f": auth-key fingerprint or ""}...],
                  "r": [name...]}
    ARGV[4] pub/sub channel announcing freed sessions
    ARGV[5] sessions per bucket
  Output:
    {added, removed, updated}   (a session only marked gone is not counted)
    -3 the fence is stale (a deposed leader): nothing written
  One account, one session: a file whose auth key (fingerprint "f") is held by
  ANOTHER session (KEYS[8], see holderOf) is a duplicate: marked "<id>:d", kept
  out of circulation as "file_error: same auth key as <holder's name>", stored
  with the signature "dup" (DUP_SIG) so every sync re-reads it; it takes the key
  over at the first sync after the holder is removed. Within one batch the
  first upsert claims a free key (sync sends known names first, sorted).
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

-- Leased (expired or not) or in a running rest.
local function heldOrResting(id)
  return rcall('ZSCORE', KEYS[4], id) or tonumber(rcall('ZSCORE', KEYS[5], id) or '0') > now
end

-- The id of the session other than `id` that holds auth-key fingerprint fp, or nil.
-- A map entry is stale (nil) once its session is gone from the pool, or once that
-- session's file holds another key and no lease or rest taken with the old one runs.
local function holderOf(fp, id)
  local o = rcall('HGET', KEYS[8], fp)
  if not o or o == id then return nil end
  local oh = bucketOf(o)
  if rcall('HEXISTS', oh, o) == 0 then return nil end
  if rcall('HGET', oh, o .. ':f') == fp or heldOrResting(o) then return o end
  return nil
end

-- Record fp as the file's key and claim it for `id`: nil, or the name of the session holding it.
local function claimKey(id, h, fp)
  local old = rcall('HGET', h, id .. ':f')
  if old and old ~= fp and rcall('HGET', KEYS[8], old) == id and not heldOrResting(id) then
    rcall('HDEL', KEYS[8], old) -- a new login in this file frees the old key (see holderOf for a running lease)
  end
  rcall('HSET', h, id .. ':f', fp)
  local other = holderOf(fp, id)
  if other then
    rcall('HSET', h, id .. ':d', '1')
    return string.match(rcall('HGET', bucketOf(other), other), '^[^\t]*')
  end
  rcall('HDEL', h, id .. ':d')
  rcall('HSET', KEYS[8], fp, id)
  return nil
end

for _, u in ipairs(batch.u or {}) do
  local id = idOf(rcall('HGET', KEYS[2], u.n))
  local isNew = not id
  if isNew then id = tostring(rcall('INCR', KEYS[1])) end
  local h = bucketOf(id)
  local err, sig = u.e, u.s
  local holder = u.f and u.f ~= '' and claimKey(id, h, u.f)
  if holder then
    err = (err ~= '' and err .. '; ' or '') .. 'same auth key as ' .. holder
    sig = 'dup' -- DUP_SIG: re-read at every sync, to take over once the holder is removed
  end
  rcall('HSET', KEYS[2], u.n, sig ~= '' and id .. ':' .. sig or id)
  rcall('HSET', h, id, u.n .. '\t' .. u.m)
  rcall('HDEL', h, id .. ':g') -- the file is back (if it was gone): the session simply continues
  if isNew then
    if err ~= '' then setFileError(id, h, u.n, err) else rcall('ZADD', KEYS[3], tonumber(id), id) end
    added = added + 1
  else
    if err ~= '' then
      setFileError(id, h, u.n, err)
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
    local h = bucketOf(id)
    local fp = rcall('HGET', h, id .. ':f')
    -- its auth key is free again: a duplicate of it takes over at its next upsert
    if fp and rcall('HGET', KEYS[8], fp) == id then rcall('HDEL', KEYS[8], fp) end
    rcall('ZREM', KEYS[3], id)
    rcall('ZREM', KEYS[4], id)
    rcall('ZREM', KEYS[5], id)
    rcall('ZREM', KEYS[6], id)
    rcall('HDEL', h, id, id .. ':t', id .. ':r', id .. ':g', id .. ':f', id .. ':d')
    rcall('HDEL', KEYS[2], name)
    removed = removed + 1
  end
end

if added > 0 then rcall('PUBLISH', ARGV[4], 'sync') end
return {added, removed, updated}
