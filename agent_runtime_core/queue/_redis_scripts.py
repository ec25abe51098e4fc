"""The Lua scripts of `RedisQueue`: each state transition of a run is one script, so a run is
always in exactly one state whatever the number of workers (see `queue/redis.py` for the keys)."""

from __future__ import annotations

__all__ = ["ENQUEUE", "DEQUEUE", "COMPLETE", "ACK", "NACK", "EXTEND", "DEAD_LETTER", "LIST_DEAD", "REQUEUE_DEAD", "DELETE_DEAD"]

# KEYS: ready, delayed, seq, signal, job. ARGV: run_id, payload, priority, delay_ms, signal cap.
ENQUEUE = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[3])
local member = string.format('%015d', n) .. ARGV[1]
local prio = tonumber(ARGV[3])
redis.call('HSET', KEYS[5], 'p', ARGV[2], 'pr', prio, 'm', member, 'd', 0)
local delay = tonumber(ARGV[4])
if delay > 0 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000) + delay, ARGV[1])
else
  redis.call('ZADD', KEYS[1], -prio, member)
  redis.call('RPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
end
return 1
"""

# KEYS: ready, delayed, leased, missing. ARGV: job prefix, worker id, lease ms, count, token base,
# cancel prefix, most runs to move per state change, result key prefix ('' for none).
# Returns {expires_ms, wake_in_ms, {missing ids}, id1, payload1, deliveries1, token1, cancel1,
# done1, id2, ...}. Job hashes are read with redis.pcall and numbers with `tonumber(x) or 0`: a
# job someone else damaged (a string key, a priority that is not a number) fails alone.
DEQUEUE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local jp = ARGV[1]
local limit = tonumber(ARGV[7])
local function fields(key)
  local job = redis.pcall('HMGET', key, 'pr', 'm')
  if job['err'] then return nil end
  return job
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local job = fields(jp .. id)
  if job and job[2] then redis.call('ZADD', KEYS[1], -(tonumber(job[1]) or 0), job[2]) end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  local job = fields(jp .. id)
  if job and job[2] then
    redis.call('HDEL', jp .. id, 't', 'w')
    redis.call('ZADD', KEYS[1], -(tonumber(job[1]) or 0), job[2])
  end
end
local expires = now + tonumber(ARGV[3])
local missing = {}
local out = {expires, -1, missing}
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[4]))
for i = 1, #popped, 2 do
  local id = string.sub(popped[i], 16)
  local key = jp .. id
  local payload = redis.pcall('HGET', key, 'p')
  if type(payload) == 'string' then
    local token = ARGV[5] .. ':' .. ((i + 1) / 2)
    local d = (tonumber(redis.call('HGET', key, 'd')) or 0) + 1
    redis.call('HSET', key, 'd', d, 't', token, 'w', ARGV[2])
    redis.call('ZADD', KEYS[3], expires, id)
    local cancel = redis.pcall('GET', ARGV[6] .. id)
    if type(cancel) ~= 'string' then cancel = '' end
    local done = 0
    if ARGV[8] ~= '' then done = redis.call('EXISTS', ARGV[8] .. id) end
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = d
    out[#out + 1] = token
    out[#out + 1] = cancel
    out[#out + 1] = done
  else
    missing[#missing + 1] = id
    redis.call('INCR', KEYS[4])
  end
end
if #out == 3 and #missing == 0 then
  local wake = -1
  for _, k in ipairs({KEYS[2], KEYS[3]}) do
    local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if first[2] then
      local w = tonumber(first[2]) - now
      if w < 0 then w = 0 end
      if wake < 0 or w < wake then wake = w end
    end
  end
  out[2] = wake
end
return out
"""

# KEYS: leased, job, result, result index. ARGV: token, run_id, result JSON, ttl ms, index member.
# The holder of the lease records its result; a worker that lost the lease records one only if
# none exists yet (the run did finish), so a run's result is written once.
COMPLETE = """
local mine = redis.call('HGET', KEYS[2], 't') == ARGV[1]
local set = {'SET', KEYS[3], ARGV[3]}
if tonumber(ARGV[4]) > 0 then
  table.insert(set, 'PX')
  table.insert(set, ARGV[4])
end
if not mine then table.insert(set, 'NX') end
redis.call(unpack(set))
redis.call('ZADD', KEYS[4], 0, ARGV[5])
if not mine then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
return 1
"""

# KEYS: leased, job. ARGV: token, run_id.
ACK = """
if redis.call('HGET', KEYS[2], 't') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
return 1
"""

# KEYS: ready, delayed, leased, signal, job. ARGV: token, run_id, delay_ms, uncount, signal cap.
NACK = """
if redis.call('HGET', KEYS[5], 't') ~= ARGV[1] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[5], 't', 'w')
if ARGV[4] == '1' then redis.call('HSET', KEYS[5], 'd', (tonumber(redis.call('HGET', KEYS[5], 'd')) or 1) - 1) end
local delay = tonumber(ARGV[3])
if delay > 0 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000) + delay, ARGV[2])
else
  local job = redis.call('HMGET', KEYS[5], 'pr', 'm')
  redis.call('ZADD', KEYS[1], -(tonumber(job[1]) or 0), job[2])
  redis.call('RPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
end
return 1
"""

# KEYS: leased. ARGV: job prefix, lease ms, then run_id, token pairs.
# Returns the new expiry (ms) per lease, 0 for a lease that was lost.
EXTEND = """
local t = redis.call('TIME')
local expires = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', ARGV[1] .. id, 't') == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], expires, id)
    out[#out + 1] = expires
  else
    out[#out + 1] = 0
  end
end
return out
"""

# KEYS: leased, dead, job, seq. ARGV: token, run_id, reason, most dead letters kept, job prefix.
# The dead set is ordered by the submission counter (exact, never tied); the time is in `dt`.
DEAD_LETTER = """
if redis.call('HGET', KEYS[3], 't') ~= ARGV[1] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], 't', 'w')
local t = redis.call('TIME')
redis.call('HSET', KEYS[3], 'r', ARGV[3], 'dt', t[1] * 1000 + math.floor(t[2] / 1000))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[2])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[5] .. old[i]) end
end
return 1
"""

# KEYS: dead. ARGV: job prefix, first, last, preview bytes.
# Returns {id, dead_ms, reason, deliveries, payload bytes, payload start, ...}, newest first.
LIST_DEAD = """
local ids = redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3])
local out = {}
for i = 1, #ids do
  local job = redis.pcall('HMGET', ARGV[1] .. ids[i], 'r', 'd', 'p', 'dt')
  if job['err'] then job = {'(job is not a hash)', 0, '', 0} end
  local payload = job[3] or ''
  out[#out + 1] = ids[i]
  out[#out + 1] = tonumber(job[4]) or 0
  out[#out + 1] = job[1] or ''
  out[#out + 1] = tonumber(job[2]) or 0
  out[#out + 1] = string.len(payload)
  out[#out + 1] = string.sub(payload, 1, tonumber(ARGV[4]))
end
return out
"""

# KEYS: ready, dead, signal. ARGV: job prefix, signal cap, run ids... Returns the ids requeued.
REQUEUE_DEAD = """
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[2], id) == 1 then
    local key = ARGV[1] .. id
    local job = redis.pcall('HMGET', key, 'pr', 'm')
    if not job['err'] and job[2] then
      redis.call('HDEL', key, 'r', 'dt', 't', 'w')
      redis.call('HSET', key, 'd', 0)
      redis.call('ZADD', KEYS[1], -(tonumber(job[1]) or 0), job[2])
      out[#out + 1] = id
    end
  end
end
if #out > 0 then
  redis.call('RPUSH', KEYS[3], '1')
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[2]), -1)
end
return out
"""

# KEYS: dead. ARGV: job prefix, run ids... Returns how many were deleted.
DELETE_DEAD = """
local n = 0
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('DEL', ARGV[1] .. ARGV[i])
    n = n + 1
  end
end
return n
"""
