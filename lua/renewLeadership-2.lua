--[[
  Compare-and-extend: renew the leader lock only if this replica still holds
  it under the same fence.

  Input:
    KEYS[1] leader string   KEYS[2] fence string
    ARGV[1] this replica's id   ARGV[2] lock ttl (ms)   ARGV[3] fence held
  Output:
    1 renewed, 0 lost (another replica holds it, or it expired and was retaken)
]]
local rcall = redis.call
if rcall('GET', KEYS[1]) == ARGV[1] and rcall('GET', KEYS[2]) == ARGV[3] then
  rcall('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
