--[[
  Become (or stay) the leader. Each new acquisition of leadership increments
  the fencing token, which the sync script checks so a deposed leader's late
  write is rejected.

  Input:
    KEYS[1] leader string   KEYS[2] fence string
    ARGV[1] this replica's id   ARGV[2] lock ttl (ms)
  Output:
    fence (> 0) when this replica is the leader, 0 when another one is
]]
local rcall = redis.call
if rcall('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return rcall('INCR', KEYS[2])
end
if rcall('GET', KEYS[1]) == ARGV[1] then
  rcall('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(rcall('GET', KEYS[2]) or '0')
end
return 0
