"""Atomic scripts shared by both backends: each has a Lua side and an identical Python side."""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.kv.base import LocalState, Script, ScriptArg


def _int(arg: ScriptArg) -> int:
    return int(arg.decode() if isinstance(arg, bytes) else arg)


def _incr_with_ttl(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    key, amount, ttl_ms = keys[0], _int(args[0]), _int(args[1])
    current = state.read(key)
    if current is None:
        state.write(key, str(amount).encode(), ttl_ms if ttl_ms > 0 else None)
        return amount
    total = int(current) + amount
    remaining = state.ttl_ms(key)
    state.write(key, str(total).encode(), remaining if remaining >= 0 else None)
    return total


INCR_WITH_TTL = Script(
    name="incr_with_ttl",
    lua="""
local existed = redis.call('EXISTS', KEYS[1])
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return total
""",
    local=_incr_with_ttl,
)
"""INCRBY key amount, setting a TTL (ms; 0 for none) only when the key is created."""


def _add_within_limit(
    state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]
) -> list[int]:
    key, amount, limit, ttl_ms = keys[0], _int(args[0]), _int(args[1]), _int(args[2])
    raw = state.read(key)
    current = int(raw) if raw is not None else 0
    if current + amount > limit:
        return [0, current]
    remaining = state.ttl_ms(key)
    if raw is None or remaining == -1:
        state.write(key, str(current + amount).encode(), ttl_ms if ttl_ms > 0 else None)
    else:
        state.write(key, str(current + amount).encode(), remaining)
    return [1, current + amount]


ADD_WITHIN_LIMIT = Script(
    name="add_within_limit",
    lua="""
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if current + amount > tonumber(ARGV[2]) then
  return {0, current}
end
local total = redis.call('INCRBY', KEYS[1], amount)
if tonumber(ARGV[3]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {1, total}
""",
    local=_add_within_limit,
)
"""Add `amount` to a counter only if the total stays <= limit: [admitted 0|1, total after].

The check and the add are one atomic step, so N concurrent callers on any number of replicas
never push the counter past the limit. TTL (ms; 0 for none) is set when the key has none.
"""


def _set_member(state: LocalState, keys: Sequence[str], args: Sequence[ScriptArg]) -> int:
    key = keys[0]
    member = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    present = _int(args[1]) == 1
    raw = state.read(key)
    members = [m for m in (raw.decode().split("\n") if raw else []) if m]
    if present and member not in members:
        members.append(member)
    elif not present and member in members:
        members.remove(member)
    state.write(key, "\n".join(members).encode(), None)
    return len(members)


SET_MEMBER = Script(
    name="set_member",
    lua="""
local raw = redis.call('GET', KEYS[1])
local members = {}
local found = false
if raw then
  for m in string.gmatch(raw, '[^\\n]+') do
    if m == ARGV[1] then found = true end
    if not (m == ARGV[1] and ARGV[2] == '0') then table.insert(members, m) end
  end
end
if ARGV[2] == '1' and not found then table.insert(members, ARGV[1]) end
redis.call('SET', KEYS[1], table.concat(members, '\\n'))
return #members
""",
    local=_set_member,
)
"""Add (args[1] == 1) or remove (0) a member of a newline-separated set kept at a key,
atomically, so that replicas changing different members at once lose none: [count after]."""
