"""The atomic scripts behind limits: each checks every scope and changes them all, or none.

Lua for Redis and the same logic in Python for one process (`kv.Script`); both run in
`tests/unit/limits` with the same expectations.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.kv.base import LocalState, Script, ScriptArg


def _int(arg: ScriptArg) -> int:
    return int(arg.decode() if isinstance(arg, bytes) else arg)


def _read(state: LocalState, key: str) -> int:
    raw = state.read(key)
    return int(raw) if raw is not None else 0


def _write(state: LocalState, key: str, value: int, ttl_ms: int) -> None:
    remaining = state.ttl_ms(key)
    if remaining >= 0:
        state.write(key, str(value).encode(), remaining)
    else:
        state.write(key, str(value).encode(), ttl_ms if ttl_ms > 0 else None)


def _admit(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    amount, ttl_ms = _int(args[0]), _int(args[1])
    limits = [_int(a) for a in args[2:]]
    counts = [_read(state, key) for key in keys]
    for index, (count, limit) in enumerate(zip(counts, limits, strict=True)):
        if count + amount > limit:
            return [0, index + 1, count]
    for key, count in zip(keys, counts, strict=True):
        _write(state, key, count + amount, ttl_ms)
    return [1, 0, 0]


ADMIT = Script(
    name="limits_admit",
    lua="""
local amount, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count + amount > tonumber(ARGV[i + 2]) then return {0, i, count} end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], amount)
  if ttl > 0 and redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {1, 0, 0}
""",
    local=_admit,
)
"""Add `amount` to every counter in KEYS if each stays within its limit (ARGV[3..]).
Returns [1, 0, 0], or [0, index of the first counter over (1-based), its count]."""


def _reserve(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    amount, hold_ms, pending_ms = _int(args[0]), _int(args[1]), _int(args[2])
    limits = [_int(a) for a in args[3:]]
    triples = [keys[i : i + 3] for i in range(1, len(keys), 3)]
    for index, (triple, limit) in enumerate(zip(triples, limits, strict=True)):
        used = sum(_read(state, key) for key in triple)
        if used + amount > limit:
            return [0, index + 1, used]
    for _, reserved_key, _ in triples:
        _write(state, reserved_key, _read(state, reserved_key) + amount, hold_ms)
    state.write(keys[0], str(amount).encode(), pending_ms)
    return [1, 0, 0]


RESERVE = Script(
    name="limits_reserve",
    lua="""
local amount, hold, pending = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#KEYS - 1) / 3
for i = 1, n do
  local used = 0
  for k = 3 * i - 1, 3 * i + 1 do used = used + tonumber(redis.call('GET', KEYS[k]) or '0') end
  if used + amount > tonumber(ARGV[i + 3]) then return {0, i, used} end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[3 * i], amount)
  if redis.call('PTTL', KEYS[3 * i]) == -1 then redis.call('PEXPIRE', KEYS[3 * i], hold) end
end
redis.call('SET', KEYS[1], amount, 'PX', pending)
return {1, 0, 0}
""",
    local=_reserve,
)
"""KEYS are the reservation's pending marker, then per budget (spent, reserved in this hold
period, reserved in the previous one). If spent + reserved + amount stays within every limit
(ARGV[4..]), add `amount` to each current reserved counter (expiring after ARGV[2] ms) and set
the marker (ARGV[3] ms): [1, 0, 0]; else nothing changes: [0, index, used]."""


def _settle(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> list[int]:
    amount, actual, ttl_ms = _int(args[0]), _int(args[1]), _int(args[2])
    if not state.remove(keys[0]):
        return []
    spent_after = []
    for i in range(1, len(keys), 2):
        spent_key, reserved_key = keys[i], keys[i + 1]
        held = state.read(reserved_key)
        if held is not None:
            _write(state, reserved_key, max(0, int(held) - amount), 0)
        spent = _read(state, spent_key) + actual
        if actual:
            _write(state, spent_key, spent, ttl_ms)
        spent_after.append(spent)
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
    if _read(state, keys[0]) >= floor:
        return 0
    _write(state, keys[0], floor, ttl_ms)
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
