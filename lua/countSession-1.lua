--[[
  Bump a session's cheap counters (times issued, rests, seconds rested, rests
  per scope), kept as one small JSON field so the bucket stays compact.

  Input:
    KEYS[1] the session's bucket hash
    ARGV[1] session id
    ARGV[2] "issued" | "rest"
    ARGV[3] scope rested ("*" for account-wide; "rest" only)
    ARGV[4] seconds rested ("rest" only)
  Output:
    1 counted   0 unknown id (removed meanwhile: nothing written)
]]
local rcall = redis.call
local id = ARGV[1]
if rcall('HEXISTS', KEYS[1], id) == 0 then return 0 end
local raw = rcall('HGET', KEYS[1], id .. ':c')
local c = raw and cjson.decode(raw) or {}
if ARGV[2] == 'issued' then
  c.i = (c.i or 0) + 1
else
  c.n = (c.n or 0) + 1
  c.s = (c.s or 0) + tonumber(ARGV[4])
  if type(c.r) ~= 'table' then c.r = {} end
  c.r[ARGV[3]] = (c.r[ARGV[3]] or 0) + 1
end
rcall('HSET', KEYS[1], id .. ':c', cjson.encode(c))
return 1
