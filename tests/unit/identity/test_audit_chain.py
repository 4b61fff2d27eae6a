"""The audit hash chain: every kind of tampering is found, at the first bad position."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agentdeck.identity.audit_chain import GENESIS, chain, digest, event_hash, verify


def _events(n: int) -> list[dict[str, Any]]:
    return chain(
        {"tenant_id": "t1", "actor": f"user:{i % 3}", "action": "keys.create",
         "resource": f"key:{i}", "before_digest": None, "after_digest": digest({"n": i}),
         "request_id": f"req_{i:024x}", "at": f"2026-11-21T16:{i:02d}:00Z"}
        for i in range(1, n + 1)
    )  # fmt: skip


def _head(events: list[dict[str, Any]]) -> tuple[int, str]:
    return events[-1]["position"], events[-1]["hash"]


def test_an_intact_chain_verifies() -> None:
    events = _events(10)
    assert [e["position"] for e in events] == list(range(1, 11))
    assert events[0]["previous"] == GENESIS
    assert all(b["previous"] == a["hash"] for a, b in itertools.pairwise(events))
    verdict = verify(events, _head(events))
    assert (verdict.ok, verdict.checked) == (True, 10)


def test_appending_continues_from_the_head() -> None:
    first = _events(3)
    more = chain([{"tenant_id": "t1", "action": "users.delete"}], _head(first))
    assert more[0]["position"] == 4
    assert verify(first + more, _head(more)).ok


def _edited(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events[4] = {**events[4], "actor": "user:evil"}
    return events


def _forged(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # rewritten with a fresh hash of its own: the next event no longer links to it
    forged = {**events[4], "action": "keys.revoke"}
    forged["hash"] = event_hash(5, forged["previous"], forged)
    events[4] = forged
    return events


@pytest.mark.parametrize(
    ("tamper", "position", "reason"),
    [
        (_edited, 5, "edited or forged"),
        (_forged, 6, "does not link"),
        (lambda e: e[:4] + e[5:], 5, "missing (deleted)"),
        (lambda e: [*e[:3], e[4], e[3], *e[5:]], 4, "missing"),  # 5 where 4 belongs
        (lambda e: [*e[:3], e[3], e[3], *e[5:]], 5, "out of order"),  # 4 twice
        (lambda e: e[:7], 8, "truncated"),
    ],
)
def test_tampering_is_found_at_its_first_position(tamper: Any, position: int, reason: str) -> None:
    events = _events(10)
    head = _head(events)
    verdict = verify(tamper([dict(e) for e in events]), head)
    assert not verdict.ok
    assert verdict.bad_position == position
    assert reason in verdict.reason


def test_a_replaced_tail_is_found_against_the_head() -> None:
    events = _events(5)
    head = _head(events)
    rebuilt = chain([{k: v for k, v in e.items() if k not in ("position", "previous", "hash")}
                     for e in events[:4]] + [{"tenant_id": "t1", "action": "forged"}])  # fmt: skip
    verdict = verify(rebuilt, head)
    assert (verdict.bad_position, verdict.reason) == (
        5,
        "the last event is not the recorded head (replaced)",
    )
