--[[
  Record a reported Telegram error that changes nothing (POST /report with a
  transient or unknown error name): only the session's last error and when.

  Input:
    KEYS[1] the session's bucket hash
    KEYS[2] events stream: appends "report" with the error and action "none" (lua/lib/history.lua)
    ARGV[1] session id   ARGV[2] lease token or ""   ARGV[3] error name
    ARGV[4] events kept in the stream (XADD MAXLEN ~)
  Output:
    1 recorded   -1 unknown id   -2 lease mismatch
]]
--#include history
local rcall = redis.call
local id = ARGV[1]
local fields = rcall('HMGET', KEYS[1], id, id .. ':t')
if not fields[1] then return -1 end
if ARGV[2] ~= '' and fields[2] ~= ARGV[2] then return -2 end
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
rcall('HSET', KEYS[1], id .. ':e', ARGV[3] .. '\t' .. now)
addEvent(KEYS[2], ARGV[4], 'report', id, 'error', ARGV[3], 'action', 'none')
return 1
