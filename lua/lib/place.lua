-- lua/lib/place.lua: pasted by src/pool/scripts.ts (readScripts) where a
-- script has the line `--#include place`. THE rule for where a session that
-- just became available goes — a release, a flood wait that ends a lease, an
-- ended lease or rest promoted by acquire:
--   its file is gone (field "<id>:g", see applySync): never freed; `flood`
--     until its latest scoped rest ends (re), else out of circulation as
--     invalidated "file_error: file_missing" until a sync removes or repairs it;
--   a scoped rest still runs (re > now): `rfree`, scored lru, its end in `rend`;
--   else `free`, scored lru (its place in the LRU order).
--
-- placeAvailable(sets, bucket, id, lru, re, gone, now): sets holds the key
--   names {free, rfree, rend, flood, invalid}; returns where it went:
--   'free', 'rfree', 'flood' or 'invalidated'.
-- announceFreed(channel, id, where): what long-polls wait for: "<id>" for
--   free, "scoped:<id>" for rfree (only scoped waiters can use it), nothing else.
local function placeAvailable(sets, bucket, id, lru, re, gone, now)
  if gone then
    if re > now then
      redis.call('ZADD', sets.flood, re, id)
      return 'flood'
    end
    redis.call('ZADD', sets.invalid, now, id)
    redis.call('HSET', bucket, id .. ':r', 'file_error: file_missing')
    return 'invalidated'
  end
  if re > now then
    redis.call('ZADD', sets.rfree, lru, id)
    redis.call('ZADD', sets.rend, re, id)
    return 'rfree'
  end
  redis.call('ZADD', sets.free, lru, id)
  return 'free'
end

local function announceFreed(channel, id, where)
  if where == 'free' then redis.call('PUBLISH', channel, id)
  elseif where == 'rfree' then redis.call('PUBLISH', channel, 'scoped:' .. id) end
end
