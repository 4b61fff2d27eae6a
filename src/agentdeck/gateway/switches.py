"""Kill switches: turn a model alias or a deployment off (and on) at once, on every replica.

A switch is written to kv and published; every replica applies it on receipt and reads the
current switches at start-up. Checking one is a set lookup: no I/O on the request path.
"""

from __future__ import annotations

import logging
from typing import Literal

import orjson

from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower
from agentdeck.kv.scripts import SET_MEMBER

log = logging.getLogger(__name__)
CHANNEL = "gateway.switches"
INDEX_KEY = "switches:off"
Kind = Literal["alias", "deployment"]


class Switchboard:
    """Which aliases and deployments are switched off."""

    def __init__(self, kv: KV) -> None:
        self._kv = kv
        self._off: set[tuple[str, str]] = set()
        self._follower = ChannelFollower(kv, CHANNEL, self.apply)

    def alias_off(self, name: str) -> bool:
        """Whether alias `name` is switched off."""
        return ("alias", name) in self._off

    def deployment_off(self, deployment_id: str) -> bool:
        """Whether deployment `deployment_id` is switched off."""
        return ("deployment", deployment_id) in self._off

    def off(self) -> list[dict[str, str]]:
        """Everything switched off now."""
        return [{"kind": kind, "name": name} for kind, name in sorted(self._off)]

    async def set(self, kind: Kind, name: str, off: bool) -> None:
        """Switch `name` off or on here at once, and on every other replica through kv."""
        self._toggle(kind, name, off)
        await self._kv.run(SET_MEMBER, [INDEX_KEY], [f"{kind}\t{name}", 1 if off else 0])
        await self._kv.publish(CHANNEL, orjson.dumps({"kind": kind, "name": name, "off": off}))

    def _toggle(self, kind: str, name: str, off: bool) -> None:
        if off:
            self._off.add((kind, name))
        else:
            self._off.discard((kind, name))

    def apply(self, message: bytes) -> None:
        """Apply a switch published by a replica."""
        try:
            change = orjson.loads(message)
            self._toggle(str(change["kind"]), str(change["name"]), bool(change["off"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring a malformed switch message: %r", message[:200])

    async def start(self) -> None:
        """Read the switches in force, then follow changes."""
        try:
            raw = await self._kv.get(INDEX_KEY)
            members = raw.decode().split("\n") if raw else []
            self._off = {(m.split("\t", 1)[0], m.split("\t", 1)[1]) for m in members if "\t" in m}
        except Exception as exc:  # noqa: BLE001 - kv down at start: none off, logged
            log.warning("could not read kill switches: %s", exc)
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following changes."""
        await self._follower.stop()
