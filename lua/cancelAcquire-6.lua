--[[
  Undo an acquire whose answer never reached its client (the command timed
  out or the connection dropped): the replica queues this right behind the
  acquire on the same connection, so Redis runs it after the acquire if the
  acquire ran at all. Frees the session only while its current lease is still
  this very token, so a lease issued since to someone else is never touched.
  What it undoes leaves no trace: the acquire's "issued" event is deleted and
  its count taken back (nobody was ever answered this lease). A session whose
  file went in between (field "<id>:g", see applySync) is not freed: its lease
  just ends now, and the next promotion takes it out as a gone one.

  Input:
    KEYS[1] free zset   KEYS[2] leased zset
    KEYS[3] token key "<prefix>:tok:<token>" (written by acquireSession, "<id>:<LRU score>:<event id>")
    KEYS[4] rfree zset   KEYS[5] rend zset (a session still resting on some scope goes back there)
    KEYS[6] events stream (the acquire's "issued" event is deleted from it)
    ARGV[1] lease token   ARGV[2] pub/sub channel announcing freed sessions
    ARGV[3] session bucket key prefix, e.g. "{telegate}:s:" (the script derives
            the bucket "<prefix><floor(id / ARGV[4])>": the id is only known from KEYS[3])
    ARGV[4] sessions per bucket
  Output:
    id of the freed session, or 0 when there was nothing to undo (the acquire
    never ran, issued nothing, or the lease has ended or changed hands)
]]
--#include history
local rcall = redis.call
local v = rcall('GET', KEYS[3])
if not v then return 0 end
rcall('DEL', KEYS[3])
local id, score, event = string.match(v, '^([^:]*):([^:]*):(.*)$')
local bucket = ARGV[3] .. math.floor(tonumber(id) / tonumber(ARGV[4]))
if rcall('HGET', bucket, id .. ':t') ~= ARGV[1] or not rcall('ZSCORE', KEYS[2], id) then return 0 end
rcall('ZREM', KEYS[2], id)
if event ~= '' then redis.pcall('XDEL', KEYS[6], event) end -- '': the acquire could not write it (lib/history.lua)
countIssued(bucket, id, -1)
-- Back at its old place in the LRU order: nobody ever used this lease.
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local re = tonumber(rcall('HGET', bucket, id .. ':re') or '0')
if rcall('HEXISTS', bucket, id .. ':g') == 1 then
  -- Its file went since (a sync ran while this waited for a connection): never
  -- freed. The lease ends now; the next acquire's promotion places it like any
  -- ended lease of a gone session (flood while a scoped rest runs, else out
  -- as invalidated "file_error: file_missing").
  rcall('ZADD', KEYS[2], now, id)
elseif re > now then
  rcall('ZADD', KEYS[4], score, id)
  rcall('ZADD', KEYS[5], re, id)
  rcall('PUBLISH', ARGV[2], 'scoped:' .. id)
else
  rcall('ZADD', KEYS[1], score, id)
  rcall('PUBLISH', ARGV[2], id)
end
return tonumber(id)
