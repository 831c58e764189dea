/**
 * The Lua scripts of the Redis backend (lib/db/redis.ts describes the layout). Every
 * change to the database is one script, so it is atomic and its notification is
 * published in the same step as the change, in the order of the global sequence.
 *
 * Written for Redis' Lua 5.1 and for ioredis-mock's Lua (fengari, 5.3 with 32-bit
 * integers): numbers that may be large are made floats (`* 1000.0`) and printed with
 * `string.format`, never with `..` (which would print `1.0` under 5.3).
 *
 * The scripts that need the time (sync, tick, snapshot) take the caller's clock in
 * milliseconds as ARGV[1], or '' to use Redis' TIME (the default: one clock for all
 * nodes; ioredis-mock's TIME is not usable, so specs over the mock pass theirs).
 *
 * Notification messages, on channel `PREFIX c:FAMILY`: `SEQ KIND BODY` with KIND
 * `s` (set: JSON `{o, k, v}`), `d` (delete: `{o, d: [keys]}`), `r` (the owner's entries
 * in the family are now exactly `{o, r: [[key, value], ...]}`) or `g` (every entry of
 * the owner named by BODY is gone). Values are SuperJSON texts.
 */

const COMMON = `
if redis.replicate_commands then redis.replicate_commands() end
local function fmt(n) return string.format('%d', n) end
-- ARGV[1] of the scripts that need the time: the caller's clock (ms), or '' for Redis' own.
local CLOCK = nil
local function now_ms()
  if CLOCK then return CLOCK end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000.0 + math.floor(tonumber(t[2]) / 1000)
end
local function split(member)
  local i = string.find(member, '#', 1, true)
  return string.sub(member, 1, i - 1), string.sub(member, i + 1)
end
-- Removes every entry of an owner; publishes 'g' in each family it had entries in.
local function clear_owner(P, seqkey, owner)
  local idx = P .. 'o:' .. owner
  local fams = {}
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local fam, key = split(m)
    redis.call('HDEL', P .. 'f:' .. fam, owner .. '#' .. key)
    fams[fam] = true
  end
  redis.call('DEL', idx)
  for fam in pairs(fams) do
    redis.call('PUBLISH', P .. 'c:' .. fam, fmt(redis.call('INCR', seqkey)) .. ' g ' .. owner)
  end
end
-- Removes the owners whose lease ran out (at most 'limit' per call).
local function sweep(P, seqkey, nodes, limit)
  local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', string.format('%.0f', now_ms()), 'LIMIT', 0, limit)
  for _, owner in ipairs(dead) do
    clear_owner(P, seqkey, owner)
    redis.call('ZREM', nodes, owner)
  end
  return #dead
end
`;

/**
 * write: this node's sets and deletes, batched. KEYS seq, nodes; ARGV prefix, owner,
 * then the operations: `s FAMILY KEY VALUE BODY` or `d FAMILY BODY N KEY...`. Each one
 * takes its own sequence number and notification. Returns 0 (and changes nothing)
 * when the owner holds no lease: it must sync instead.
 */
export const WRITE = `${COMMON}
local P, owner = ARGV[1], ARGV[2]
if not redis.call('ZSCORE', KEYS[2], owner) then return 0 end
local idx = P .. 'o:' .. owner
local i = 3
while i <= #ARGV do
  local op, fam = ARGV[i], ARGV[i + 1]
  local fk, channel = P .. 'f:' .. fam, P .. 'c:' .. fam
  if op == 's' then
    local key, value, body = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local seq = fmt(redis.call('INCR', KEYS[1]))
    redis.call('HSET', fk, owner .. '#' .. key, seq .. ' ' .. value)
    redis.call('SADD', idx, fam .. '#' .. key)
    redis.call('PUBLISH', channel, seq .. ' s ' .. body)
    i = i + 5
  else
    local body, n = ARGV[i + 2], tonumber(ARGV[i + 3])
    local removed = 0
    for j = 1, n do
      local key = ARGV[i + 3 + j]
      removed = removed + redis.call('HDEL', fk, owner .. '#' .. key)
      redis.call('SREM', idx, fam .. '#' .. key)
    end
    if removed > 0 then
      redis.call('PUBLISH', channel, fmt(redis.call('INCR', KEYS[1])) .. ' d ' .. body)
    end
    i = i + 4 + n
  end
end
return 1
`;

/**
 * sync: makes the owner's entries in Redis exactly the given ones and renews its lease
 * (lease 0: removes the owner altogether). An entry whose value did not change keeps
 * its sequence number. KEYS seq, nodes; ARGV clock, prefix, owner, leaseMs, nFamilies, then per
 * family: family, body, nEntries, then key, value per entry (all after the clock). Then sweeps.
 */
export const SYNC = `${COMMON}
CLOCK = tonumber(ARGV[1])
local P, owner, lease = ARGV[2], ARGV[3], tonumber(ARGV[4])
local idx = P .. 'o:' .. owner
local stale = {}
for _, m in ipairs(redis.call('SMEMBERS', idx)) do stale[m] = true end
local i = 6
local listed = {}
local seqs = {}
for f = 1, tonumber(ARGV[5]) do
  local fam, body, count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local fk = P .. 'f:' .. fam
  local seq = false
  for e = 1, count do
    local key, value = ARGV[i], ARGV[i + 1]
    i = i + 2
    local member = fam .. '#' .. key
    stale[member] = nil
    local field = owner .. '#' .. key
    local old = redis.call('HGET', fk, field)
    local same = false
    if old then
      local sp = string.find(old, ' ', 1, true)
      same = string.sub(old, sp + 1) == value
    end
    if not same then
      if not seq then seq = fmt(redis.call('INCR', KEYS[1])) end
      redis.call('HSET', fk, field, seq .. ' ' .. value)
    end
    redis.call('SADD', idx, member)
  end
  listed[#listed + 1] = { fam, body }
  seqs[fam] = seq
end
local gone = {}
for member in pairs(stale) do
  local fam, key = split(member)
  redis.call('HDEL', P .. 'f:' .. fam, owner .. '#' .. key)
  redis.call('SREM', idx, member)
  gone[fam] = true
end
for _, l in ipairs(listed) do
  local fam, body = l[1], l[2]
  local seq = seqs[fam]
  if seq or gone[fam] then
    if not seq then seq = fmt(redis.call('INCR', KEYS[1])) end
    redis.call('PUBLISH', P .. 'c:' .. fam, seq .. ' r ' .. body)
  end
  gone[fam] = nil
end
for fam in pairs(gone) do
  redis.call('PUBLISH', P .. 'c:' .. fam, fmt(redis.call('INCR', KEYS[1])) .. ' g ' .. owner)
end
if lease > 0 then
  redis.call('ZADD', KEYS[2], string.format('%.0f', now_ms() + lease), owner)
else
  redis.call('ZREM', KEYS[2], owner)
end
return sweep(P, KEYS[1], KEYS[2], 100)
`;

/**
 * tick: renews the owner's lease if it still holds one, then sweeps expired owners.
 * KEYS seq, nodes; ARGV clock, prefix, owner, leaseMs. Returns [held, wait]: held is 0
 * when the owner had lost its lease (its entries were swept: it must sync), else 1;
 * wait is the number of milliseconds until the next lease of another owner runs out
 * (-1: none), so that the caller can sweep right then.
 */
export const TICK = `${COMMON}
CLOCK = tonumber(ARGV[1])
local had = redis.call('ZSCORE', KEYS[2], ARGV[3])
if had then
  redis.call('ZADD', KEYS[2], string.format('%.0f', now_ms() + tonumber(ARGV[4])), ARGV[3])
end
sweep(ARGV[2], KEYS[1], KEYS[2], 100)
local wait = '-1'
local first = redis.call('ZRANGE', KEYS[2], 0, 1, 'WITHSCORES')
for j = 1, #first, 2 do
  if first[j] ~= ARGV[3] then
    wait = string.format('%.0f', math.max(0, tonumber(first[j + 1]) - now_ms()))
    break
  end
end
if had then return { 1, wait } end
return { 0, wait }
`;

/**
 * snapshot: KEYS family hash, seq, nodes; ARGV clock. Returns the current sequence number, the
 * family's fields (owner#key -> "seq value") and the owners whose lease ran out.
 */
export const SNAPSHOT = `${COMMON}
CLOCK = tonumber(ARGV[1])
local seq = redis.call('GET', KEYS[2]) or '0'
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now_ms()))
return { seq, redis.call('HGETALL', KEYS[1]), dead }
`;
