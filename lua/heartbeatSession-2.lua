--[[
  Extend a current lease by the lease TTL, counted from now.

  Input:
    KEYS[1] leased zset   KEYS[2] the session's bucket hash
    ARGV[1] session id    ARGV[2] lease token   ARGV[3] lease ttl (ms)
  Output:
    new expiry (ms)
    -1 unknown id
    -2 the lease is not current (ended, expired, or another token)
]]
local rcall = redis.call
if rcall('HEXISTS', KEYS[2], ARGV[1]) == 0 then return -1 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leaseEnd = rcall('ZSCORE', KEYS[1], ARGV[1])
if not leaseEnd or tonumber(leaseEnd) <= now or rcall('HGET', KEYS[2], ARGV[1] .. ':t') ~= ARGV[2] then
  return -2
end
local expires = now + tonumber(ARGV[3])
rcall('ZADD', KEYS[1], expires, ARGV[1])
return expires
