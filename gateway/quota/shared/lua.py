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
  time, capacity) and ``tl tt tc`` (tokens); ``p rate:{t}:svc:<service>``: a
  service's own, when it has limits.
- ``p conc:{t}`` / ``p sess:{t}``: replica id -> calls in flight / Realtime
  sessions open. Per replica, so a dead replica's share can be dropped.
  ``p sconc:{t}``: ``<replica>|<service>`` -> calls in flight of a service
  with limits of its own.
- ``p budget:{t}:<scope or *>:<window>`` (a scope: a model, ``service:<name>``,
  ``tag:<key>=<value>``): ``s`` spent and ``r`` reserved, in
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

# KEYS: rate, conc, res, inflight, seeded, service rate and service conc (the tenant's rate
#       and conc when the call's service has no limits), budget keys...
# ARGV: replica, ttl, releases, admits, rpm, tpm, concurrent, track, service ('' for none),
#       its rpm, tpm, concurrent, then per budget key (limit, strict), then per release
#       (id, tokens back, its TPM, its service's TPM) and per admit (id, tokens, bound,
#       force, record).
# Releases go first: a call that ended frees its share for the admits behind it. All the
# releases and admits of one call are of one service.
# Returns five values per admit: {0, over, rpm level, tpm level, seeding mark}, or a
# refusal: {1, in flight}, {2, rpm level}, {3, tpm level}, {4, budget index, nanos left},
# {5} (budgets not seeded: the slot lost its data), {6, in flight}, {7, rpm level},
# {8, tpm level} (6-8: the service's own limits). The first is a `verdicts.Verdict`.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nrel, nadm = tonumber(ARGV[3]), tonumber(ARGV[4])
local conc, sconc = tonumber(ARGV[7]), tonumber(ARGV[12])
local track, svc = ARGV[8] == '1', ARGV[9]
local nb = #KEYS - 7
local at = 12 + 2 * nb
local function level(l, ts, c, cap)
  l, ts, c = tonumber(l), tonumber(ts), tonumber(c)
  if l == nil or c ~= cap then return cap end
  return math.min(cap, l + math.max(0, now - ts) * cap / 60)
end
-- Two token buckets (requests, tokens) in one hash: the tenant's, or its service's.
local function open(key, rpm, tpm)
  local v = redis.call('HMGET', key, 'rl', 'rt', 'rc', 'tl', 'tt', 'tc')
  local b = {key = key, v = v, rpm = rpm, tpm = tpm, tc = tonumber(v[6]), dirty = false}
  b.stored = b.tc and level(v[4], v[5], b.tc, b.tc)
  return b
end
local function back(b, tokens, cap)
  if b.stored and tokens ~= 0 and cap == b.tc then
    b.stored, b.dirty = math.min(b.tc, b.stored + tokens), true
  end
end
local function ready(b)
  if b.rpm then b.rl = level(b.v[1], b.v[2], b.v[3], b.rpm) end
  if b.tpm then
    if b.tc == b.tpm then b.tl = b.stored else b.tl = b.tpm end
  end
end
local function refuses(b, tokens, base)
  if b.rl and b.rl < 1 then return {base + 1, tostring(b.rl)} end
  if b.tl and b.tl < tokens then return {base + 2, tostring(b.tl)} end
end
local function take(b, tokens)
  if b.rl then b.rl, b.dirty = b.rl - 1, true end
  if b.tl then b.tl, b.dirty = b.tl - tokens, true end
end
local function save(b)
  local tl, cap = b.tl, b.tpm
  if not cap and b.stored then tl, cap = b.stored, b.tc end  -- tokens given back, no TPM now
  if not b.dirty then return end
  local f = {}
  if b.rl then f[#f + 1] = 'rl'; f[#f + 1] = b.rl; f[#f + 1] = 'rt'; f[#f + 1] = now
    f[#f + 1] = 'rc'; f[#f + 1] = b.rpm end
  if tl then f[#f + 1] = 'tl'; f[#f + 1] = tl; f[#f + 1] = 'tt'; f[#f + 1] = now
    f[#f + 1] = 'tc'; f[#f + 1] = cap end
  if #f > 0 then
    redis.call('HSET', b.key, unpack(f))
    redis.call('EXPIRE', b.key, 120)
  end
end
local buckets = {open(KEYS[1], tonumber(ARGV[5]), tonumber(ARGV[6]))}
if svc ~= '' then buckets[2] = open(KEYS[6], tonumber(ARGV[10]), tonumber(ARGV[11])) end
local n = 0
if nrel > 0 then
  local ids = {}
  for j = 0, nrel - 1 do ids[j + 1] = ARGV[at + 1 + 4 * j] end
  local held = redis.call('HMGET', KEYS[4], unpack(ids))
  local gone = {}
  for j = 0, nrel - 1 do
    if held[j + 1] and not gone[ids[j + 1]] then
      gone[ids[j + 1]] = true
      gone[#gone + 1] = ids[j + 1]
      local tokens = tonumber(ARGV[at + 2 + 4 * j])
      back(buckets[1], tokens, tonumber(ARGV[at + 3 + 4 * j]))
      if buckets[2] then back(buckets[2], tokens, tonumber(ARGV[at + 4 + 4 * j])) end
    end
  end
  if #gone > 0 then
    redis.call('HDEL', KEYS[4], unpack(gone))
    n = -#gone
  end
end
at = at + 4 * nrel
for _, b in ipairs(buckets) do ready(b) end
-- In flight, per replica: conc's field <replica>, sconc's <replica>|<service>.
local flight, sflight = 0, 0
if conc and nadm > 0 then
  for _, x in ipairs(redis.call('HVALS', KEYS[2])) do flight = flight + tonumber(x) end
  flight = flight + n
end
if sconc and nadm > 0 then
  local all, tail = redis.call('HGETALL', KEYS[7]), '|' .. svc
  for i = 1, #all, 2 do
    if string.sub(all[i], -#tail) == tail then sflight = sflight + tonumber(all[i + 1]) end
  end
  sflight = sflight + n
end
local limit, strict, used, fresh, mark = {}, {}, {}, {}, ''
if nb > 0 and nadm > 0 then
  mark = redis.call('GET', KEYS[5])
  for i = 1, nb do
    local b = redis.call('HMGET', KEYS[7 + i], 's', 'r')
    limit[i], strict[i] = tonumber(ARGV[11 + 2 * i]), ARGV[12 + 2 * i] == '1'
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
    elseif sconc and sflight >= sconc then no = {6, tostring(sflight)}
    else
      no = refuses(buckets[1], tokens, 1)
      if not no and buckets[2] then no = refuses(buckets[2], tokens, 6) end
    end
  end
  local over = 0
  if not no then
    for i = 1, nb do
      local left = limit[i] - used[i]
      if bound > left then
        if strict[i] and not force then no = {4, i, tostring(left)}; break end
        over = 1
      end
    end
  end
  if no then
    out[#out + 1] = no[1]; out[#out + 1] = no[2] or ''; out[#out + 1] = no[3] or ''
    out[#out + 1] = ''; out[#out + 1] = ''
  else
    for _, b in ipairs(buckets) do take(b, tokens) end
    flight, sflight = flight + 1, sflight + 1
    for i = 1, nb do used[i] = used[i] + bound end
    added = added + bound
    if track then
      n = n + 1
      inflight[#inflight + 1] = ARGV[o + 1]; inflight[#inflight + 1] = '1'
    end
    if nb > 0 then records[#records + 1] = ARGV[o + 1]; records[#records + 1] = ARGV[o + 5] end
    out[#out + 1] = 0; out[#out + 1] = over
    out[#out + 1] = tostring(buckets[1].rl or ''); out[#out + 1] = tostring(buckets[1].tl or '')
    out[#out + 1] = mark
  end
end
for _, b in ipairs(buckets) do save(b) end
if n ~= 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], n)
  if svc ~= '' then redis.call('HINCRBY', KEYS[7], ARGV[1] .. '|' .. svc, n) end
end
if #inflight > 0 then redis.call('HSET', KEYS[4], unpack(inflight)) end
if #records > 0 then
  redis.call('HSET', KEYS[3], unpack(records))
  for i = 1, nb do
    redis.call('HINCRBY', KEYS[7 + i], 'r', added)
    if fresh[i] then redis.call('EXPIRE', KEYS[7 + i], ARGV[2]) end
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
# KEYS: conc, sess, res, inflight, claimed, sconc   ARGV: replica
# Returns the claimed records (field, value, ...).
CLAIM = """
redis.call('HDEL', KEYS[1], ARGV[1])
local mine, fields = ARGV[1] .. '|', {}
for _, f in ipairs(redis.call('HKEYS', KEYS[6])) do
  if string.sub(f, 1, #mine) == mine then fields[#fields + 1] = f end
end
if #fields > 0 then redis.call('HDEL', KEYS[6], unpack(fields)) end
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
