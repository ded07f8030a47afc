--[[
  Apply one batch of a sync: register new session files, update changed ones,
  remove sessions whose file is gone. Idempotent: two syncs applying the same
  batch end in the same state. A session logged out (health logged_out) whose
  file now holds another auth key (meta authKeyId: a new login) is back in
  circulation.

  A file that is gone never ends a lease or a rest: a session that is leased
  (in the leased set, expired or not), in a running flood wait or with a
  running scoped rest keeps its id, token and deadlines and is only marked gone
  (field "<id>:g"; its stored signature becomes "gone", GONE_SIG in
  src/pool/keys.ts, so sync sends the file again when it returns). A gone
  session is never issued (one free for some scopes moves to `flood` until its
  last scoped rest ends); when its lease or rest ends it becomes invalidated
  with reason "file_error: file_missing", and a later sync removes it (file
  still missing) or brings it back as free (file returned). An upsert clears
  the mark.

  One account, one session: a file whose auth key (fingerprint "f") is held by
  ANOTHER session (KEYS[11], see holderOf) is a duplicate: marked "<id>:d", kept
  out of circulation as "file_error: same auth key as <holder's name>" (health
  file_error unless logged_out or banned), stored with the signature "dup"
  (DUP_SIG) so every sync re-reads it; it takes the key over at the first sync
  after the holder is removed. Within one batch the first upsert claims a free
  key (sync sends known names first, sorted). A duplicate is never "relogged":
  a logged_out session whose file now holds another session's key stays out.
  A key is held while its session is leased, or rests (account-wide or on a
  scope: heldOrResting), even when its file moved on to another key.

  Input:
    KEYS[1] seq string   KEYS[2] ids hash (name -> "id" or "id:sig")
    KEYS[3] free zset    KEYS[4] leased zset   KEYS[5] flood zset   KEYS[6] invalid zset
    KEYS[7] fence string (the leader's fencing token)
    KEYS[8] rfree zset   KEYS[9] rend zset   KEYS[10] health zset (codes in src/pool/keys.ts)
    KEYS[11] fingerprints hash (auth-key fingerprint -> id of the session holding that key)
    KEYS[12] events stream: "removed" for each session removed, "file_changed" for each
             known file whose signature changed (not from or to "dup"), both with the name
    ARGV[1] fence expected, or "" for an unfenced (manual) sync
    ARGV[2] session bucket key prefix, e.g. "{telegate}:s:" (the script derives
            each session's bucket "<prefix><floor(id / ARGV[5])>"; layout in src/pool/keys.ts)
    ARGV[3] JSON {"u": [{"n": name, "m": metaJson, "s": sig or "", "e": fileError or "",
                         "g": tags "t1,t2" (sorted) or "", "f": auth-key fingerprint or ""}...],
                  "r": [name...]}
    ARGV[4] pub/sub channel announcing freed sessions
    ARGV[5] sessions per bucket
    ARGV[6] per-scope rest zset prefix (the script derives "<prefix><scope>"
            for each scope a removed session rests on, from its "<id>:rs" field)
    ARGV[7] per-tag id set prefix (the script derives "<prefix><tag>" for the
            tags a session gains or loses: "g" below against its "<id>:tg" field)
    ARGV[8] events kept in the stream (XADD MAXLEN ~)
  Output:
    {added, removed, updated}   (a session only marked gone is not counted)
    -3 the fence is stale (a deposed leader): nothing written
  New sessions enter `free` scored by their id, far below any real time, so
  never-used sessions are issued first (oldest registration first).
]]
--#include history
--#include place
local rcall = redis.call
if ARGV[1] ~= '' and rcall('GET', KEYS[7]) ~= ARGV[1] then return -3 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local batch = cjson.decode(ARGV[3])
local added, removed, updated = 0, 0, 0
local prefix, perBucket = ARGV[2], tonumber(ARGV[5])

local function idOf(v) return v and string.match(v, '^(%d+)') end
local function bucketOf(id) return prefix .. math.floor(tonumber(id) / perBucket) end

local LOGGED_OUT, BANNED, FILE_ERROR = 1, 2, 3
local function healthOf(id) return tonumber(rcall('ZSCORE', KEYS[10], id) or '0') end

-- Available again (lua/lib/place.lua), its file back (its "<id>:g" mark is gone): `free`, or `rfree` while a
-- scoped rest runs.
local sets = {free = KEYS[3], rfree = KEYS[8], rend = KEYS[9], flood = KEYS[5], invalid = KEYS[6]}
local function place(id, h)
  placeAvailable(sets, h, id, now, tonumber(rcall('HGET', h, id .. ':re') or '0'), false, now)
end

local function authKeyId(metaJson)
  local ok, m = pcall(cjson.decode, metaJson)
  if ok and type(m) == 'table' and type(m.authKeyId) == 'string' then return m.authKeyId end
  return nil
end

-- Keep the per-tag sets in step with the session's tags.
local function setTags(id, h, tags)
  local old = rcall('HGET', h, id .. ':tg') or ''
  if old == tags then return end
  for tag in string.gmatch(old, '[^,]+') do rcall('SREM', ARGV[7] .. tag, id) end
  for tag in string.gmatch(tags, '[^,]+') do rcall('SADD', ARGV[7] .. tag, id) end
  if tags == '' then rcall('HDEL', h, id .. ':tg') else rcall('HSET', h, id .. ':tg', tags) end
end

-- Leased (expired or not) or in a running rest, account-wide or on a scope.
local function heldOrResting(id)
  return rcall('ZSCORE', KEYS[4], id) or tonumber(rcall('ZSCORE', KEYS[5], id) or '0') > now
    or tonumber(rcall('ZSCORE', KEYS[9], id) or '0') > now
end

-- Leased or resting (account-wide or on a scope): keep id, token and deadlines,
-- mark gone (never issued again while gone). One free for other scopes waits out
-- its last scoped rest in `flood`, out of reach of every acquire.
local function keepGone(id, h, name)
  if not heldOrResting(id) then return false end
  local restEnd = tonumber(rcall('ZSCORE', KEYS[9], id) or '0')
  if restEnd > now then
    rcall('ZREM', KEYS[8], id)
    rcall('ZREM', KEYS[9], id)
    rcall('ZADD', KEYS[5], restEnd, id)
  end
  rcall('HSET', h, id .. ':g', '1')
  rcall('HSET', KEYS[2], name, id .. ':gone')
  return true
end

-- A broken file takes its session out of circulation, but like a missing file it
-- never ends a lease or a running rest (the holder is still using the account):
-- such a session is marked gone, with no real signature so the next sync re-reads
-- the file, and goes out as invalidated when its lease or rest ends.
local function setFileError(id, h, name, err)
  rcall('HSET', h, id .. ':r', 'file_error: ' .. err)
  local hs = healthOf(id)
  if hs ~= LOGGED_OUT and hs ~= BANNED then rcall('ZADD', KEYS[10], FILE_ERROR, id) end
  if keepGone(id, h, name) then return end
  if not rcall('ZSCORE', KEYS[6], id) then
    rcall('ZREM', KEYS[3], id)
    rcall('ZREM', KEYS[4], id)
    rcall('ZREM', KEYS[5], id)
    rcall('ZREM', KEYS[8], id)
    rcall('ZREM', KEYS[9], id)
    rcall('ZADD', KEYS[6], now, id)
  end
end

-- The id of the session other than `id` that holds auth-key fingerprint fp, or nil.
-- A map entry is stale (nil) once its session is gone from the pool, or once that
-- session's file holds another key and no lease or rest taken with the old one runs.
local function holderOf(fp, id)
  local o = rcall('HGET', KEYS[11], fp)
  if not o or o == id then return nil end
  local oh = bucketOf(o)
  if rcall('HEXISTS', oh, o) == 0 then return nil end
  if rcall('HGET', oh, o .. ':f') == fp or heldOrResting(o) then return o end
  return nil
end

-- Record fp as the file's key and claim it for `id`: nil, or the name of the session holding it.
local function claimKey(id, h, fp)
  local old = rcall('HGET', h, id .. ':f')
  if old and old ~= fp and rcall('HGET', KEYS[11], old) == id and not heldOrResting(id) then
    rcall('HDEL', KEYS[11], old) -- a new login in this file frees the old key (see holderOf for a running lease)
  end
  rcall('HSET', h, id .. ':f', fp)
  local other = holderOf(fp, id)
  if other then
    rcall('HSET', h, id .. ':d', '1')
    return string.match(rcall('HGET', bucketOf(other), other), '^[^\t]*')
  end
  rcall('HDEL', h, id .. ':d')
  rcall('HSET', KEYS[11], fp, id)
  return nil
end

for _, u in ipairs(batch.u or {}) do
  local stored = rcall('HGET', KEYS[2], u.n)
  local id = idOf(stored)
  local isNew = not id
  -- the file changed since it was read last (a duplicate's "dup" is no file signature)
  local oldSig = stored and string.match(stored, '^%d+:(.*)$')
  if oldSig and oldSig ~= 'dup' and u.s ~= '' and u.s ~= oldSig then addEvent(KEYS[12], ARGV[8], 'file_changed', id, 'name', u.n) end
  if isNew then id = tostring(rcall('INCR', KEYS[1])) end
  local h = bucketOf(id)
  local err, sig = u.e, u.s
  local holder = u.f and u.f ~= '' and claimKey(id, h, u.f)
  if holder then
    err = (err ~= '' and err .. '; ' or '') .. 'same auth key as ' .. holder
    sig = 'dup' -- DUP_SIG: re-read at every sync, to take over once the holder is removed
  end
  -- a new login (another authKeyId) ends logged_out, unless the file is broken or a duplicate
  local relogged = false
  if not isNew and err == '' and healthOf(id) == LOGGED_OUT then
    local newKey = authKeyId(u.m)
    local old = rcall('HGET', h, id) or ''
    relogged = newKey ~= nil and newKey ~= authKeyId(string.match(old, '\t(.*)$') or '')
  end
  rcall('HSET', KEYS[2], u.n, sig ~= '' and id .. ':' .. sig or id)
  rcall('HSET', h, id, u.n .. '\t' .. u.m)
  rcall('HDEL', h, id .. ':g') -- the file is back (if it was gone): the session simply continues
  setTags(id, h, u.g or '')
  if isNew then
    if err ~= '' then setFileError(id, h, u.n, err) else rcall('ZADD', KEYS[3], tonumber(id), id) end
    added = added + 1
  else
    if relogged then
      -- a new login replaced the file: logged_out ends by itself
      rcall('ZREM', KEYS[10], id)
      if rcall('ZREM', KEYS[6], id) == 1 then
        rcall('HDEL', h, id .. ':r')
        place(id, h)
      end
    elseif err ~= '' then
      setFileError(id, h, u.n, err)
    else
      local reason = rcall('HGET', h, id .. ':r')
      if reason and string.sub(reason, 1, 11) == 'file_error:' then
        -- the file was repaired: back into circulation (a leased or resting one simply continues)
        rcall('HDEL', h, id .. ':r')
        if healthOf(id) == FILE_ERROR then rcall('ZREM', KEYS[10], id) end
        if rcall('ZREM', KEYS[6], id) == 1 then place(id, h) end
      end
    end
    updated = updated + 1
  end
end

for _, name in ipairs(batch.r or {}) do
  local id = idOf(rcall('HGET', KEYS[2], name))
  if id and keepGone(id, bucketOf(id), name) then
    -- leased or resting: kept, marked gone (see keepGone)
  elseif id then
    rcall('ZREM', KEYS[3], id)
    rcall('ZREM', KEYS[4], id)
    rcall('ZREM', KEYS[5], id)
    rcall('ZREM', KEYS[6], id)
    rcall('ZREM', KEYS[8], id)
    rcall('ZREM', KEYS[9], id)
    rcall('ZREM', KEYS[10], id)
    local h = bucketOf(id)
    local fp = rcall('HGET', h, id .. ':f')
    -- its auth key is free again: a duplicate of it takes over at its next upsert
    if fp and rcall('HGET', KEYS[11], fp) == id then rcall('HDEL', KEYS[11], fp) end
    setTags(id, h, '')
    local rs = rcall('HGET', h, id .. ':rs')
    if rs then
      for scope in pairs(cjson.decode(rs)) do rcall('ZREM', ARGV[6] .. scope, id) end
    end
    rcall('HDEL', h, id, id .. ':t', id .. ':r', id .. ':g', id .. ':rs', id .. ':re', id .. ':e', id .. ':c',
      id .. ':f', id .. ':d')
    rcall('HDEL', KEYS[2], name)
    addEvent(KEYS[12], ARGV[8], 'removed', id, 'name', name)
    removed = removed + 1
  end
end

if added > 0 then rcall('PUBLISH', ARGV[4], 'sync') end
return {added, removed, updated}
