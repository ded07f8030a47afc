--[[
  Undo an acquire whose answer never reached its client (the command timed
  out or the connection dropped): the replica queues this right behind the
  acquire on the same connection, so Redis runs it after the acquire if the
  acquire ran at all. Frees the session only while its current lease is still
  this very token, so a lease issued since to someone else is never touched.

  Input:
    KEYS[1] free zset   KEYS[2] leased zset
    KEYS[3] token key "<prefix>:tok:<token>" (written by acquireSession, "<id>:<LRU score>")
    KEYS[4] rfree zset   KEYS[5] rend zset (a session still resting on some scope goes back there)
    ARGV[1] lease token   ARGV[2] pub/sub channel announcing freed sessions
    ARGV[3] session bucket key prefix, e.g. "{telegate}:s:" (the script derives
            the bucket "<prefix><floor(id / ARGV[4])>": the id is only known from KEYS[3])
    ARGV[4] sessions per bucket
  Output:
    id of the freed session, or 0 when there was nothing to undo (the acquire
    never ran, issued nothing, or the lease has ended or changed hands)
]]
local rcall = redis.call
local v = rcall('GET', KEYS[3])
if not v then return 0 end
rcall('DEL', KEYS[3])
local colon = string.find(v, ':', 1, true)
local id, score = string.sub(v, 1, colon - 1), string.sub(v, colon + 1)
local bucket = ARGV[3] .. math.floor(tonumber(id) / tonumber(ARGV[4]))
if rcall('HGET', bucket, id .. ':t') ~= ARGV[1] or not rcall('ZSCORE', KEYS[2], id) then return 0 end
rcall('ZREM', KEYS[2], id)
-- Back at its old place in the LRU order: nobody ever used this lease.
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local re = tonumber(rcall('HGET', bucket, id .. ':re') or '0')
if re > now then
  rcall('ZADD', KEYS[4], score, id)
  rcall('ZADD', KEYS[5], re, id)
  rcall('PUBLISH', ARGV[2], 'scoped:' .. id)
else
  rcall('ZADD', KEYS[1], score, id)
  rcall('PUBLISH', ARGV[2], id)
end
return tonumber(id)
