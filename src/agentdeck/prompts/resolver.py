"""`PromptResolver`: the version a prompt reference serves, from memory.

Per (tenant, project, name) it keeps the prompt's labels, the versions they point at and its
latest number, read from the store on a miss (concurrent misses share one read). Every change
in the registry is announced on kv (`agentdeck:prompts`) and each replica drops that prompt
when the message arrives, so a moved label serves its new version everywhere at once. Should
a message be lost, an entry older than `ttl_s` is read again in the background while the
entry still serves, so a request never waits on the store once a prompt is warm.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from agentdeck.errors import NotFoundError
from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower
from agentdeck.kv.loading_cache import LoadingCache
from agentdeck.prompts.models import (
    DEFAULT_LABEL,
    LabelTarget,
    PromptKey,
    PromptRef,
    PromptSnapshot,
    Version,
)
from agentdeck.prompts.service import CHANNEL, PromptRegistry

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000
Key = tuple[str, str, str]


@dataclass(slots=True)
class _Entry:
    """A prompt as served: None when it does not exist (remembered too, so unknown names
    cost no store read either); versions fetched by number are added as they are asked."""

    snapshot: PromptSnapshot | None
    by_number: dict[int, Version] = field(default_factory=dict)


def pick_split(target: LabelTarget, name: str, label: str, sticky: str | None) -> int:
    """The version a split label serves: the same for the same sticky key (by SHA-256 of
    name, label and key), weighted at random without one."""
    splits = target.splits or ()
    total = sum(split.weight for split in splits)
    if sticky is None:
        point = secrets.randbelow(total)
    else:
        seed = hashlib.sha256(f"{name}\0{label}\0{sticky}".encode()).digest()
        point = int.from_bytes(seed, "big") % total
    for split in splits:
        if point < split.weight:
            return split.version
        point -= split.weight
    raise AssertionError("weights sum to total")  # pragma: no cover


class PromptResolver:
    """Resolves prompt references for the gateway with no store read once warm."""

    def __init__(
        self,
        registry: PromptRegistry,
        kv: KV,
        ttl_s: float = 60.0,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry

        async def load(key: Key) -> _Entry:
            return _Entry(await registry.store.snapshot(PromptKey(*key)))

        self._cache: LoadingCache[Key, _Entry] = LoadingCache(
            load, "prompt", ttl_s, max_entries, clock
        )
        self._follower = ChannelFollower(kv, CHANNEL, self._on_message)
        registry.on_change(lambda key: self.invalidate(key.tenant_id, key.project_id, key.name))

    @property
    def loads(self) -> int:
        """Store reads, for tests and metrics."""
        return self._cache.loads

    async def start(self) -> None:
        """Follow the registry's change announcements."""
        await self._follower.start()

    async def stop(self) -> None:
        """Stop following, and stop background reads."""
        await self._follower.stop()
        await self._cache.stop()

    def invalidate(self, tenant_id: str, project_id: str, name: str) -> None:
        """Forget the prompt; a read under way for it will not be kept."""
        self._cache.invalidate((tenant_id, project_id, name))

    def _on_message(self, message: bytes) -> None:
        try:
            origin, tenant_id, project_id, name = orjson.loads(message)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            log.warning("ignored a malformed prompt invalidation: %r", message[:200])
            return
        if origin != self._registry.origin:  # our own registry told us already
            self.invalidate(str(tenant_id), str(project_id), str(name))

    async def resolve(
        self, tenant_id: str, project_id: str, ref: PromptRef, sticky: str | None
    ) -> Version:
        """The version `ref` names: by number, or the one its label (default `production`)
        serves to `sticky`. 404 naming the prompt, label or version that does not exist."""
        key = (tenant_id, project_id, ref.name)
        entry = await self._cache.get(key)
        snapshot = entry.snapshot
        if snapshot is None:
            raise NotFoundError(
                f"no prompt {ref.name!r} in project {project_id}", param="prompt.name"
            )
        if ref.version is not None:
            return await self._numbered(key, entry, ref.version)
        label = ref.label or DEFAULT_LABEL
        state = snapshot.labels.get(label)
        if state is None:
            raise NotFoundError(f"prompt {ref.name!r} has no label {label!r}", param="prompt.label")
        number = state.target.version
        if number is None:
            number = pick_split(state.target, ref.name, label, sticky)
        return snapshot.versions[number]

    async def _numbered(self, key: Key, entry: _Entry, number: int) -> Version:
        snapshot = entry.snapshot
        assert snapshot is not None
        found = entry.by_number.get(number) or snapshot.versions.get(number)
        if found is not None:
            return found
        if 1 <= number <= snapshot.latest_version:  # versions are never deleted
            found = await self._registry.store.version(PromptKey(*key), number)
        if found is None:
            raise NotFoundError(
                f"prompt {key[2]!r} has no version {number}", param="prompt.version"
            )
        entry.by_number[number] = found
        return found
