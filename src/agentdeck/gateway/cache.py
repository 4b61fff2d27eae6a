"""Exact-match response cache on `kv`: the same request (normalized) gets the same answer.

Keyed by the tenant and a hash of the request with the fields that do not change the answer
removed (stream flags, user, metadata) and keys sorted. Whole answers only: chat completions
that are not streamed, and embeddings. A hit costs nothing and is marked `x-agentdeck-cache:
hit`. Bypass per request with the header `x-agentdeck-cache: bypass` or the body field
`"cache": false` (removed before the request goes upstream).
"""

from __future__ import annotations

import hashlib
import logging

import orjson

from agentdeck.gateway.models import JSON
from agentdeck.kv import KV
from agentdeck.settings import CacheSettings

log = logging.getLogger(__name__)
_IGNORED = ("stream", "stream_options", "user", "metadata", "cache")


def cache_key(kind: str, tenant: str, body: JSON) -> str:
    """The kv key of a request's answer."""
    normalized = {k: v for k, v in body.items() if k not in _IGNORED}
    digest = hashlib.sha256(orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"cache:{kind}:{tenant}:{digest}"


class ResponseCache:
    """Reads and writes cached answers; kv failures are logged and treated as misses."""

    def __init__(self, kv: KV, settings: CacheSettings) -> None:
        self._kv = kv
        self._settings = settings

    async def get(self, key: str) -> bytes | None:
        """The cached answer, or None."""
        try:
            return await self._kv.get(key)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not fail the call; logged
            log.warning("cache read failed: %s", exc)
            return None

    async def put(self, key: str, answer: bytes, ttl_s: float | None) -> None:
        """Keep `answer` for `ttl_s` seconds (the configured default when None)."""
        if len(answer) > self._settings.max_entry_bytes:
            return
        try:
            await self._kv.set(key, answer, ttl_s=ttl_s or self._settings.ttl_s)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not fail the call; logged
            log.warning("cache write failed: %s", exc)
