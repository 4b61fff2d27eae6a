"""Counters, atomic scripts, a TTL cache and pub/sub behind one interface (memory or Redis)."""

from __future__ import annotations

from agentdeck.kv.base import KV, Script
from agentdeck.kv.memory import MemoryKV
from agentdeck.settings import KVSettings

__all__ = ["KV", "MemoryKV", "Script", "create_kv"]


def create_kv(settings: KVSettings) -> KV:
    """The backend the settings name: Redis when a URL is set, else in-process."""
    if settings.url:
        from agentdeck.kv.redis import RedisKV

        return RedisKV(settings.url, max_connections=settings.max_connections)
    return MemoryKV(max_entries=settings.cache_max_entries)
