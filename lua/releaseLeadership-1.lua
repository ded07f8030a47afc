--[[
  Compare-and-delete: give leadership up (on shutdown) only if still ours.

  Input:
    KEYS[1] leader string   ARGV[1] this replica's id
  Output:
    1 released, 0 not ours
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
