"""The Redis side of admission: each check-and-update is one Lua script, so it is atomic.

Redis runs a script to completion before any other command, which is what a
single process gets from the event loop: no replica can slip between "does it
fit?" and "hold it". Times come from the server's clock (``TIME``), so the
replicas' clocks do not have to agree for rate limits.

Keys (``p`` is the prefix, ``gw:`` by default; one Redis primary, not Cluster:
the reclaim script touches several tenants' keys):

- ``p rate:<tenant>``: two token buckets, fields ``rl rt rc`` (requests:
  level, time, capacity) and ``tl tt tc`` (tokens).
- ``p conc:<tenant>`` / ``p sess:<tenant>``: replica id -> calls in flight /
  Realtime sessions open. Per replica, so a dead replica's share can be dropped.
- ``p budget:<tenant>:<model or *>:<window>``: ``s`` spent and ``r``
  reserved, in nano-USD (integers: ``HINCRBY`` is exact; comparisons in Lua
  are doubles, exact below 2**53 nanos, nine million USD).
- ``p inflight:<replica>``: reservation ids whose concurrency share is held.
- ``p res:<replica>``: reservation id -> JSON record of a budget reservation, for
  reclaiming. It is settled only after the call's ledger row is committed.
- ``p tenants:<replica>``, ``p replicas``, ``p alive:<replica>`` (with a TTL).
- ``p seeded``: this Redis's budgets were loaded from the ledger, and when
  (``<id>|<time of the ledger read>``). No TTL: it goes only with Redis's data,
  and then budgeted admits wait (as if Redis were down) until a replica re-seeds.
- ``p claiming``: dead replicas whose reservations are being reconciled.

Release, settle and reclaim delete the reservation first and change counters
only if it was there, so running any of them twice (a retried batch, two
reclaimers, a late settle from a replica presumed dead) counts once.
"""

from __future__ import annotations

# KEYS: rate, conc, res, tenants-of-replica, inflight, seeded, budget keys...
# ARGV: replica, ticket, rpm, tpm, concurrent, tokens, bound, strict, force, record,
#       budget-key ttl, tenant, then one limit per budget key.
# Returns {0, over, rpm level, tpm level} or a refusal: {1, in flight}, {2, rpm level},
# {3, tpm level}, {4, budget index, nanos left}, {5} (budgets not seeded: Redis lost its data).
# The first element is a `scripts.Verdict`; `scripts.AdmitReply` decodes the rest.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, tpm, conc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tokens, bound = tonumber(ARGV[6]), tonumber(ARGV[7])
local force = ARGV[9] == '1'
local function level(p, cap)
  local v = redis.call('HMGET', KEYS[1], p .. 'l', p .. 't', p .. 'c')
  local l, ts, c = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if l == nil or c ~= cap then return cap end
  return math.min(cap, l + math.max(0, now - ts) * cap / 60)
end
local rl, tl
if rpm then rl = level('r', rpm) end
if tpm then tl = level('t', tpm) end
if not force then
  if conc then
    local n = 0
    for _, v in ipairs(redis.call('HVALS', KEYS[2])) do n = n + tonumber(v) end
    if n >= conc then return {1, tostring(n)} end
  end
  if rl and rl < 1 then return {2, tostring(rl)} end
  if tl and tl < tokens then return {3, tostring(tl)} end
end
local over = 0
local nb = #KEYS - 6
if nb > 0 and redis.call('EXISTS', KEYS[6]) == 0 then return {5} end
for i = 1, nb do
  local v = redis.call('HMGET', KEYS[6 + i], 's', 'r')
  local left = tonumber(ARGV[12 + i]) - (tonumber(v[1]) or 0) - (tonumber(v[2]) or 0)
  if bound > left then
    if ARGV[8] == '1' and not force then return {4, i, tostring(left)} end
    over = 1
  end
end
if rl then
  rl = rl - 1
  redis.call('HSET', KEYS[1], 'rl', rl, 'rt', now, 'rc', rpm)
end
if tl then
  tl = tl - tokens
  redis.call('HSET', KEYS[1], 'tl', tl, 'tt', now, 'tc', tpm)
end
if rl or tl then redis.call('EXPIRE', KEYS[1], 120) end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('SADD', KEYS[4], ARGV[12])
redis.call('HSET', KEYS[5], ARGV[2], '1')
for i = 1, nb do
  redis.call('HINCRBY', KEYS[6 + i], 'r', ARGV[7])
  redis.call('EXPIRE', KEYS[6 + i], ARGV[11])
end
if nb > 0 then redis.call('HSET', KEYS[3], ARGV[2], ARGV[10]) end
return {0, over, tostring(rl or ''), tostring(tl or '')}
"""

# The call ended: its concurrency share and unused tokens go back at once.
# KEYS: inflight, conc, rate   ARGV: ticket, replica, tokens back, tpm
RELEASE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
local back, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
if tpm and back ~= 0 then
  local v = redis.call('HMGET', KEYS[3], 'tl', 'tt', 'tc')
  if tonumber(v[3]) == tpm then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local l = math.min(tpm, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * tpm / 60)
    redis.call('HSET', KEYS[3], 'tl', math.min(tpm, l + back), 'tt', now)
  end
end
return 1
"""

# Its ledger row is committed: the budget reservation becomes the real cost. Also how a
# reclaimed reservation is charged. KEYS: res (or claimed), budget keys...
# ARGV: ticket, -bound, cost
SETTLE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 2, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'r', ARGV[2])
  redis.call('HINCRBY', KEYS[i], 's', ARGV[3])
end
return 1
"""

# Spend admitted while Redis was unreachable (fail-open), added when it is back.
# KEYS: budget keys...   ARGV: ttl, nanos per key
ADD_SPEND = """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 's', ARGV[i + 1])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return 1
"""

# KEYS: sess, tenants-of-replica   ARGV: replica, limit ('' for none), tenant
OPEN_SESSION = """
local limit = tonumber(ARGV[2])
if limit then
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do n = n + tonumber(v) end
  if n >= limit then return 0 end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# A session ended. Never below zero: Redis may have lost the count when it lost its data.
# KEYS: sess   ARGV: replica
CLOSE_SESSION = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
return 1
"""

# A replica whose alive key expired: drop its in-flight and session counts and move its
# reservations to a claimed hash (merged, if an earlier reclaim stopped half-way).
# KEYS: alive, res, tenants-of-replica, claimed, inflight, replicas, claiming
# ARGV: replica, prefix
# Returns nil while the replica is alive, else the claimed records (field, value, ...).
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
for _, t in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('HDEL', ARGV[2] .. 'conc:' .. t, ARGV[1])
  redis.call('HDEL', ARGV[2] .. 'sess:' .. t, ARGV[1])
end
redis.call('DEL', KEYS[3], KEYS[5])
redis.call('SREM', KEYS[6], ARGV[1])
redis.call('SADD', KEYS[7], ARGV[1])
local res = redis.call('HGETALL', KEYS[2])
for i = 1, #res, 2 do redis.call('HSET', KEYS[4], res[i], res[i + 1]) end
redis.call('DEL', KEYS[2])
return redis.call('HGETALL', KEYS[4])
"""

# Every claimed reservation is reconciled. KEYS: claimed, claiming   ARGV: replica
CLAIMED = """
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""

# This window's spend from the ledger: on a new Redis, or one that lost its data.
# Never lowers a counter: spend settled since the ledger was read stays.
# KEYS: seeded, budget keys...   ARGV: ttl, epoch, nanos per key
SEED = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX') then return 0 end
for i = 2, #KEYS do
  local s = tonumber(redis.call('HGET', KEYS[i], 's')) or 0
  if tonumber(ARGV[i + 1]) > s then redis.call('HSET', KEYS[i], 's', ARGV[i + 1]) end
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return 1
"""
