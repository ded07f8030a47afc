--[[
  Count one request against a fixed rate-limit window (express-rate-limit Store).

  Input:
    KEYS[1] the counter key of one client (API key id) for the window
    ARGV[1] window length (ms)
  Output:
    {hits in this window, ms until the window resets}
]]
local rcall = redis.call
local hits = rcall('INCR', KEYS[1])
local ttl = rcall('PTTL', KEYS[1])
if ttl < 0 then
  rcall('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
