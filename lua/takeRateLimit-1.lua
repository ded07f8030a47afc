--[[
  Take a slice of one client's rate-limit budget for the current fixed window
  (src/http/ratelimit.ts: each replica spends its slice locally, so a request
  costs no round trip). The counter holds the hits granted in this window;
  it never goes past the limit (a grant is cut to what is left), and a client
  over its limit changes nothing.

  Input:
    KEYS[1] the counter key of one client (API key id) for the window
    ARGV[1] window length (ms)
    ARGV[2] the limit (hits per window)
    ARGV[3] the slice wanted (hits, >= 1)
  Output:
    {hits granted now (0: over the limit), the counter after, ms until the window resets}
]]
local rcall = redis.call
local limit, slice = tonumber(ARGV[2]), tonumber(ARGV[3])
local used = tonumber(rcall('GET', KEYS[1]) or '0')
local grant = math.max(0, math.min(slice, limit - used))
local count = used
if grant > 0 then count = rcall('INCRBY', KEYS[1], grant) end
local ttl = rcall('PTTL', KEYS[1])
if ttl < 0 then
  if count > 0 then rcall('PEXPIRE', KEYS[1], ARGV[1]) end
  ttl = tonumber(ARGV[1])
end
return {grant, count, ttl}
