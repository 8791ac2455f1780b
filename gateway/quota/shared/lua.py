"""The Redis side of admission: each check-and-update is one Lua script, so it is atomic.

Redis runs a script to completion before any other command, which is what a
single process gets from the event loop: no replica can slip between "does it
fit?" and "hold it". Times come from the server's clock (``TIME``), so the
replicas' clocks do not have to agree for rate limits.

A script costs Redis about 8 µs before it does anything, and each command in
it about 1 µs more, so the scripts take a batch: one ``ADMIT`` carries every
admit and release of one tenant that a courier round has, and one ``SETTLE``
every settle of one tenant's budgets. Each reads a counter once, checks each
call in order against the running level (so a batch admits exactly what the
same calls one by one would) and writes it once.

Keys (``p`` is the prefix, ``gw:`` by default). Everything a tenant's scripts
touch carries the tenant as a Redis Cluster hash tag, ``{<tenant>}``, so it is
on one slot, and a Cluster spreads tenants over its shards:

- ``p rate:{t}``: two token buckets, fields ``rl rt rc`` (requests: level,
  time, capacity) and ``tl tt tc`` (tokens).
- ``p conc:{t}`` / ``p sess:{t}``: replica id -> calls in flight / Realtime
  sessions open. Per replica, so a dead replica's share can be dropped.
- ``p budget:{t}:<model or *>:<window>``: ``s`` spent and ``r`` reserved, in
  nano-USD (integers: ``HINCRBY`` is exact; comparisons in Lua are doubles,
  exact below 2**53 nanos, nine million USD).
- ``p inflight:{t}:<replica>``: reservation ids whose concurrency share or
  tokens are held.
- ``p res:{t}:<replica>``: reservation id -> JSON record of a budget
  reservation, for reclaiming. It is settled only after the call's ledger row
  is committed. ``p claimed:{t}:<replica>``: a dead replica's, being reconciled.
- ``p seeded:{t}``: the tenant's budgets were loaded from the ledger, and when
  (``<id>|<time of the ledger read>``). No TTL: it goes only with the slot's
  data, and then the tenant's next budgeted admit re-seeds it first.
- Not per tenant: ``p replicas``, ``p alive:<replica>`` (with a TTL) and
  ``p tenants:<replica>`` (whose keys a reclaim must visit).

Release, settle and reclaim delete the reservation first and change counters
only if it was there, so running any of them twice (a retried batch, two
reclaimers, a late settle from a replica presumed dead) counts once.
"""

from __future__ import annotations

# KEYS: rate, conc, res, inflight, seeded, budget keys...
# ARGV: replica, ttl, releases, admits, rpm, tpm, concurrent, strict, track, one limit per
#       budget key, then per release (id, tokens back, its TPM) and per admit
#       (id, tokens, bound, force, record).
# Releases go first: a call that ended frees its share for the admits behind it.
# Returns five values per admit: {0, over, rpm level, tpm level, seeding mark}, or a
# refusal: {1, in flight}, {2, rpm level}, {3, tpm level}, {4, budget index, nanos left},
# {5} (budgets not seeded: the slot lost its data). The first is a `scripts.Verdict`.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nrel, nadm = tonumber(ARGV[3]), tonumber(ARGV[4])
local rpm, tpm, conc = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local strict, track = ARGV[8] == '1', ARGV[9] == '1'
local nb = #KEYS - 5
local at = 9 + nb
local v = redis.call('HMGET', KEYS[1], 'rl', 'rt', 'rc', 'tl', 'tt', 'tc')
local function level(l, ts, c, cap)
  l, ts, c = tonumber(l), tonumber(ts), tonumber(c)
  if l == nil or c ~= cap then return cap end
  return math.min(cap, l + math.max(0, now - ts) * cap / 60)
end
local rl, tl, rate = nil, nil, false
local tc = tonumber(v[6])
local stored = tc and level(v[4], v[5], tc, tc)
local n = 0
if nrel > 0 then
  local ids = {}
  for j = 0, nrel - 1 do ids[j + 1] = ARGV[at + 1 + 3 * j] end
  local held = redis.call('HMGET', KEYS[4], unpack(ids))
  local gone = {}
  for j = 0, nrel - 1 do
    if held[j + 1] and not gone[ids[j + 1]] then
      gone[ids[j + 1]] = true
      gone[#gone + 1] = ids[j + 1]
      local back = tonumber(ARGV[at + 2 + 3 * j])
      if stored and back ~= 0 and tonumber(ARGV[at + 3 + 3 * j]) == tc then
        stored, rate = math.min(tc, stored + back), true
      end
    end
  end
  if #gone > 0 then
    redis.call('HDEL', KEYS[4], unpack(gone))
    n = -#gone
  end
end
at = at + 3 * nrel
if rpm then rl = level(v[1], v[2], v[3], rpm) end
if tpm then
  if tc == tpm then tl = stored else tl = tpm end
end
local flight = 0
if conc and nadm > 0 then
  for _, x in ipairs(redis.call('HVALS', KEYS[2])) do flight = flight + tonumber(x) end
  flight = flight + n
end
local limit, used, fresh, mark = {}, {}, {}, ''
if nb > 0 and nadm > 0 then
  mark = redis.call('GET', KEYS[5])
  for i = 1, nb do
    local b = redis.call('HMGET', KEYS[5 + i], 's', 'r')
    limit[i] = tonumber(ARGV[9 + i])
    used[i] = (tonumber(b[1]) or 0) + (tonumber(b[2]) or 0)
    fresh[i] = b[1] == false and b[2] == false
  end
end
local out, inflight, records, added = {}, {}, {}, 0
for j = 0, nadm - 1 do
  local o = at + 5 * j
  local tokens, bound, force = tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), ARGV[o + 4] == '1'
  local no = nil
  if not mark then no = {5}
  elseif not force then
    if conc and flight >= conc then no = {1, tostring(flight)}
    elseif rl and rl < 1 then no = {2, tostring(rl)}
    elseif tl and tl < tokens then no = {3, tostring(tl)} end
  end
  local over = 0
  if not no then
    for i = 1, nb do
      local left = limit[i] - used[i]
      if bound > left then
        if strict and not force then no = {4, i, tostring(left)}; break end
        over = 1
      end
    end
  end
  if no then
    out[#out + 1] = no[1]; out[#out + 1] = no[2] or ''; out[#out + 1] = no[3] or ''
    out[#out + 1] = ''; out[#out + 1] = ''
  else
    if rl then rl, rate = rl - 1, true end
    if tl then tl, rate = tl - tokens, true end
    flight = flight + 1
    for i = 1, nb do used[i] = used[i] + bound end
    added = added + bound
    if track then
      n = n + 1
      inflight[#inflight + 1] = ARGV[o + 1]; inflight[#inflight + 1] = '1'
    end
    if nb > 0 then records[#records + 1] = ARGV[o + 1]; records[#records + 1] = ARGV[o + 5] end
    out[#out + 1] = 0; out[#out + 1] = over
    out[#out + 1] = tostring(rl or ''); out[#out + 1] = tostring(tl or '')
    out[#out + 1] = mark
  end
end
if not tpm and stored then tl, tpm = stored, tc end  -- tokens given back, no TPM now
if rate then
  local f = {}
  if rl then f[#f + 1] = 'rl'; f[#f + 1] = rl; f[#f + 1] = 'rt'; f[#f + 1] = now
    f[#f + 1] = 'rc'; f[#f + 1] = rpm end
  if tl then f[#f + 1] = 'tl'; f[#f + 1] = tl; f[#f + 1] = 'tt'; f[#f + 1] = now
    f[#f + 1] = 'tc'; f[#f + 1] = tpm end
  redis.call('HSET', KEYS[1], unpack(f))
  redis.call('EXPIRE', KEYS[1], 120)
end
if n ~= 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], n) end
if #inflight > 0 then redis.call('HSET', KEYS[4], unpack(inflight)) end
if #records > 0 then
  redis.call('HSET', KEYS[3], unpack(records))
  for i = 1, nb do
    redis.call('HINCRBY', KEYS[5 + i], 'r', added)
    if fresh[i] then redis.call('EXPIRE', KEYS[5 + i], ARGV[2]) end
  end
end
return out
"""

# Ledger rows are committed: each reservation becomes its real cost. Also how a dead
# replica's claimed reservations are charged. KEYS: res (or claimed), budget keys...
# ARGV: per settle (id, bound, cost). Returns 1 per settle applied, 0 if it was not there
# (or came twice in the batch).
SETTLE = """
local ids = {}
for j = 1, #ARGV, 3 do ids[#ids + 1] = ARGV[j] end
local held = redis.call('HMGET', KEYS[1], unpack(ids))
local gone, out, r, s = {}, {}, 0, 0
for j = 1, #ids do
  if held[j] and not gone[ids[j]] then
    gone[ids[j]] = true
    gone[#gone + 1] = ids[j]
    r = r - tonumber(ARGV[3 * j - 1])
    s = s + tonumber(ARGV[3 * j])
    out[j] = 1
  else
    out[j] = 0
  end
end
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  for i = 2, #KEYS do
    redis.call('HINCRBY', KEYS[i], 'r', r)
    if s ~= 0 then redis.call('HINCRBY', KEYS[i], 's', s) end
  end
end
return out
"""

# Spend admitted while Redis was unreachable (fail-open), added when it is back.
# KEYS: one tenant's budget keys...   ARGV: ttl, nanos per key
ADD_SPEND = """
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 's', ARGV[i + 1])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return 1
"""

# This replica may hold something of a tenant: a reclaim must visit the tenant's keys.
# KEYS: tenants-of-replica   ARGV: tenant
REGISTER = """
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""

# KEYS: sess   ARGV: replica, limit ('' for none)
OPEN_SESSION = """
local limit = tonumber(ARGV[2])
if limit then
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do n = n + tonumber(v) end
  if n >= limit then return 0 end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""

# A session ended. Never below zero: Redis may have lost the count when it lost its data.
# KEYS: sess   ARGV: replica
CLOSE_SESSION = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
return 1
"""

# A dead replica's holds on one tenant: its in-flight and session counts go, and its
# reservations move to a claimed hash (merged, if an earlier reclaim stopped half-way).
# KEYS: conc, sess, res, inflight, claimed   ARGV: replica
# Returns the claimed records (field, value, ...).
CLAIM = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
local res = redis.call('HGETALL', KEYS[3])
for i = 1, #res, 2 do redis.call('HSET', KEYS[5], res[i], res[i + 1]) end
redis.call('DEL', KEYS[3])
return redis.call('HGETALL', KEYS[5])
"""

# This window's spend of one tenant from the ledger: on a new Redis, or a slot that lost
# its data. Never lowers a counter: spend settled since the ledger was read stays.
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
