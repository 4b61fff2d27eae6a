"""The atomic scripts behind limits: each checks every scope and changes them all, or none.

Lua for Redis and the same logic in Python for one process (`kv.Script`); both run in
`tests/unit/limits` with the same expectations.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.kv.base import LocalState, Script, ScriptArg


def _int(arg: ScriptArg) -> int:
    return arg if type(arg) is int else int(arg)


def _admit(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    rates, budgets = _int(args[0]), _int(args[1])
    rate_ttl, hold_ms, pending_ms, cost = (_int(a) for a in args[2:6])
    counts = [(keys[i], _int(args[6 + 2 * i]), _int(args[7 + 2 * i])) for i in range(rates)]
    for index, (key, amount, limit) in enumerate(counts):
        count = state.count(key)
        if count + amount > limit:
            return [0, index + 1, count]
    base, limits = rates + 1, args[6 + 2 * rates :]
    for j in range(budgets):
        at = base + 3 * j
        used = state.count(keys[at]) + state.count(keys[at + 1]) + state.count(keys[at + 2])
        if used + cost > _int(limits[j]):
            return [0, rates + j + 1, used]
    for key, amount, _ in counts:
        state.add(key, amount, rate_ttl)
    if budgets:
        for j in range(budgets):
            state.add(keys[base + 3 * j + 1], cost, hold_ms)
        state.write(keys[rates], b"%d" % cost, pending_ms)
    return [1, 0, 0]


ADMIT = Script(
    name="limits_admit",
    lua="""
local rates, budgets = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, hold = tonumber(ARGV[3]), tonumber(ARGV[4])
local pending, cost = tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, rates do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count + tonumber(ARGV[5 + 2 * i]) > tonumber(ARGV[6 + 2 * i]) then return {0, i, count} end
end
local base = rates + 1
for j = 1, budgets do
  local used = 0
  for k = base + 3 * j - 2, base + 3 * j do
    used = used + tonumber(redis.call('GET', KEYS[k]) or '0')
  end
  if used + cost > tonumber(ARGV[6 + 2 * rates + j]) then return {0, rates + j, used} end
end
for i = 1, rates do
  redis.call('INCRBY', KEYS[i], ARGV[5 + 2 * i])
  if ttl > 0 and redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
if budgets > 0 then
  for j = 1, budgets do
    local reserved = KEYS[base + 3 * j - 1]
    redis.call('INCRBY', reserved, cost)
    if redis.call('PTTL', reserved) == -1 then redis.call('PEXPIRE', reserved, hold) end
  end
  redis.call('SET', KEYS[base], cost, 'PX', pending)
end
return {1, 0, 0}
""",
    local=_admit,
)
"""One admission, all or nothing: rate counters and budget reservations.

ARGV: rate count R, budget count B, rate counter TTL, reserved counter TTL, pending marker
TTL (ms), cost to reserve; then (amount, limit) per rate counter; then each budget's limit.
KEYS: the R rate counters; then, when B > 0, the reservation's pending marker and per budget
(spent, reserved in this hold period, reserved in the previous one).

If every counter stays within its limit and spent + reserved + cost within every budget, add
each amount, reserve the cost in each current reserved counter, set the marker: [1, 0, 0].
Else nothing changes: [0, index of the first one over (rates first, 1-based), its count]."""


def _settle(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    amount, actual, ttl_ms = _int(args[0]), _int(args[1]), _int(args[2])
    if not state.remove(keys[0]):
        return []
    spent_after = []
    for i in range(1, len(keys), 2):
        held = state.count(keys[i + 1])
        if held > 0:  # an expired reserved counter stays absent
            state.add(keys[i + 1], -min(held, amount), 0)
        spent_after.append(state.add(keys[i], actual, ttl_ms) if actual else state.count(keys[i]))
    return spent_after


SETTLE = Script(
    name="limits_settle",
    lua="""
if redis.call('DEL', KEYS[1]) == 0 then return {} end
local amount, actual, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local spent = {}
for i = 2, #KEYS, 2 do
  local held = redis.call('GET', KEYS[i + 1])
  if held then
    local left = tonumber(held) - amount
    if left < 0 then left = 0 end
    redis.call('SET', KEYS[i + 1], left, 'KEEPTTL')
  end
  if actual > 0 then
    spent[#spent + 1] = redis.call('INCRBY', KEYS[i], actual)
    if ttl > 0 and redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ttl) end
  else
    spent[#spent + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
end
return spent
""",
    local=_settle,
)
"""Settle once: KEYS[1] is the reservation's pending marker; without it (settled before, or
older than its marker) nothing changes and the answer is []. Otherwise, for each (spent,
reserved) pair, take the reservation back (a reserved counter that already expired is left
absent) and add the actual cost; returns each budget's spent amount afterwards."""


def _raise_to(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    floor, ttl_ms = _int(args[0]), _int(args[1])
    current = state.count(keys[0])
    if current >= floor:
        return 0
    state.add(keys[0], floor - current, ttl_ms)
    return 1


RAISE_TO = Script(
    name="limits_raise_to",
    lua="""
local floor, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= floor then return 0 end
local keep = redis.call('PTTL', KEYS[1])
if keep > 0 then redis.call('SET', KEYS[1], floor, 'PX', keep)
elseif ttl > 0 then redis.call('SET', KEYS[1], floor, 'PX', ttl)
else redis.call('SET', KEYS[1], floor) end
return 1
""",
    local=_raise_to,
)
"""Set the counter KEYS[1] to ARGV[1] if it is lower: 1 when raised, else 0."""
