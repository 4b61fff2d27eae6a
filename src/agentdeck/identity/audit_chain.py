"""The audit log's hash chain: each tenant's events link to the one before by SHA-256.

An event's hash covers its position, the previous event's hash and every field, in canonical
JSON. `verify` walks a tenant's events in position order and names the first position that is
edited, forged, missing (deleted), out of order, or cut off at the end (checked against the
chain head kept apart from the events).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64
FIELDS = ("tenant_id", "actor", "action", "resource", "before_digest", "after_digest",
          "request_id", "at")  # fmt: skip


def event_hash(position: int, previous: str, event: Mapping[str, Any]) -> str:
    """The hash of an event at `position` after an event hashed `previous`."""
    body = {name: event.get(name) for name in FIELDS}
    canonical = orjson.dumps(
        {"position": position, "previous": previous, **body}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def digest(value: Any) -> str | None:
    """The SHA-256 of a resource's state before or after a change (None when absent)."""
    if value is None:
        return None
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain(
    events: Iterable[Mapping[str, Any]], head: tuple[int, str] = (0, GENESIS)
) -> list[dict[str, Any]]:
    """Events with their `position`, `previous` and `hash`, appended after `head`."""
    position, previous = head
    out = []
    for event in events:
        position += 1
        linked: dict[str, Any] = {name: event.get(name) for name in FIELDS}
        linked["position"], linked["previous"] = position, previous
        previous = event_hash(position, previous, linked)
        linked["hash"] = previous
        out.append(linked)
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of verifying a chain: `bad_position` is None when it is intact."""

    checked: int
    bad_position: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether every event checked out."""
        return self.bad_position is None


def verify(events: Iterable[Mapping[str, Any]], head: tuple[int, str] | None = None) -> Verdict:
    """Check a tenant's events (in position order) against each other and the chain head."""
    expected_position, previous = 1, GENESIS
    checked = 0
    for event in events:
        position = event.get("position")
        if position != expected_position:
            what = (
                "missing (deleted)"
                if isinstance(position, int) and position > expected_position
                else "out of order"
            )
            return Verdict(checked, expected_position, f"event {expected_position} is {what}")
        if event.get("previous") != previous:
            return Verdict(checked, position, "does not link to the event before it")
        if event_hash(position, previous, event) != event.get("hash"):
            return Verdict(
                checked, position, "its contents do not match its hash (edited or forged)"
            )
        previous = str(event["hash"])
        expected_position += 1
        checked += 1
    if head is not None:
        last_position, last_hash = head
        if checked < last_position:
            return Verdict(
                checked,
                checked + 1,
                f"the log ends at {checked} but the head is at {last_position} (truncated)",
            )
        if checked and previous != last_hash:
            return Verdict(checked, checked, "the last event is not the recorded head (replaced)")
    return Verdict(checked)
