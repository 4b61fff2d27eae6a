"""Who is calling: the key in `Authorization: Bearer` or `x-api-key`, checked against grants
cached in memory.

The store is read once per key (concurrent first requests share that read); every identity
change bumps a revision and publishes on kv, and each replica drops its cache on the message
or, should one be lost, when its poll of the revision (every `revocation_poll_s`) sees it
move. So a revocation holds on every replica within a few seconds with no store read on the
request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import AuthenticationError
from agentdeck.identity.audit_log import NO_TENANT, AuditEvent, AuditQueue
from agentdeck.identity.grants import Grant, load_grant, load_principal_grant
from agentdeck.identity.keys import ParsedKey, parse_key
from agentdeck.identity.tables import identity_revision
from agentdeck.kv import KV
from agentdeck.kv.follow import ChannelFollower

log = logging.getLogger(__name__)
CHANNEL = "agentdeck:identity"
_MISSING = "missing API key: send it as 'Authorization: Bearer ad_...' or in the 'x-api-key' header"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: the bearer token, else `x-api-key`."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key else None


class Authenticator:
    """Turns a presented key into a `Grant`, or raises 401 naming why (and audits it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        kv: KV,
        audit: AuditQueue,
        *,
        enabled: bool,
        poll_s: float = 1.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
        on_invalidate: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._kv = kv
        self._audit = audit
        self.enabled = enabled
        self._poll_s = poll_s
        self._max = max_entries
        self._clock = clock
        self._on_invalidate = on_invalidate
        self._cache: OrderedDict[str, Grant | None] = OrderedDict()
        self._parsed: dict[str, ParsedKey] = {}
        self._loading: dict[str, asyncio.Future[Grant | None]] = {}
        self._revision: int | None = None
        self._generation = 0
        self._follower = ChannelFollower(kv, CHANNEL, self._on_message)
        self._dev_refresh: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self.dev_grant: Grant | None = None

    async def start(self, dev_principal: tuple[str, str] | None = None) -> None:
        """Follow identity changes; with `dev_principal` (principal id, project id), serve
        keyless requests as that principal (development mode)."""
        self._revision = await self._read_revision()
        await self._follower.start()
        self._poller = asyncio.create_task(self._poll())
        if dev_principal is not None:
            async with self._engine.connect() as conn:
                self.dev_grant = await load_principal_grant(conn, *dev_principal, key_id="dev")

    async def stop(self) -> None:
        """Stop following changes."""
        await self._follower.stop()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    def invalidate(self) -> None:
        """Forget every cached grant (they are read again on next use)."""
        self._cache.clear()
        self._generation += 1  # a load under way when this ran must not cache what it read
        if self._on_invalidate is not None:
            self._on_invalidate()

    async def changed(self) -> None:
        """Tell every replica (this one included) that identity data changed."""
        self.invalidate()
        await self._refresh_dev()
        try:
            await self._kv.publish(CHANNEL, b"changed")
        except Exception as exc:  # noqa: BLE001 - committed already; other replicas' poll sees it
            log.warning("could not announce an identity change (replicas poll for it): %s", exc)

    def _on_message(self, _: bytes) -> None:
        self.invalidate()
        if self.dev_grant is not None and (self._dev_refresh is None or self._dev_refresh.done()):
            self._dev_refresh = asyncio.get_running_loop().create_task(self._refresh_dev_logged())

    async def _refresh_dev_logged(self) -> None:
        try:
            await self._refresh_dev()
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            log.warning("development caller not refreshed (the poll tries again): %s", exc)

    async def _read_revision(self) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(identity_revision.c.revision))
        return int(value or 0)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                revision = await self._read_revision()
                if revision != self._revision:
                    self.invalidate()
                    await self._refresh_dev()
                    self._revision = revision  # only now: a failed refresh is tried again
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("identity revision poll failed: %s", exc)

    async def _refresh_dev(self) -> None:
        if self.dev_grant is not None:
            async with self._engine.connect() as conn:
                fresh = await load_principal_grant(
                    conn, self.dev_grant.principal_id, self.dev_grant.project_id, key_id="dev"
                )
            if fresh is not None:
                self.dev_grant = fresh

    async def authenticate(self, headers: Mapping[str, str], request_id: str | None) -> Grant:
        """The grant of the request's key; 401 when there is none or it may not be used."""
        key = presented_key(headers)
        if key is None or (not self.enabled and not key.startswith("ad_")):
            if not self.enabled and self.dev_grant is not None:
                return self.dev_grant  # development mode: documented, off when identity is on
            self._deny(NO_TENANT, "anonymous", "no key", request_id)
            raise AuthenticationError(_MISSING)
        parsed = self._parsed.get(key)
        if parsed is None:
            try:
                parsed = parse_key(key)
            except AuthenticationError as error:
                self._deny(NO_TENANT, "anonymous", error.message, request_id)
                raise
            if len(self._parsed) >= self._max:
                self._parsed.clear()
            self._parsed[key] = parsed  # checksum and hash once per key, not per request
        grant = await self._lookup(parsed.hash)
        if grant is None:
            self._deny(NO_TENANT, f"key:{parsed.display}", "unknown key", request_id)
            raise AuthenticationError(f"unknown API key {parsed.display}")
        problem = grant.problem(self._clock())
        if problem is not None:
            self._deny(grant.tenant_id, grant.actor, problem, request_id, grant.key_id)
            raise AuthenticationError(f"{problem}: {parsed.display}")
        return grant

    def _deny(
        self, tenant_id: str, actor: str, reason: str, request_id: str | None, key_id: str = "-"
    ) -> None:
        self._audit.add(
            AuditEvent(
                tenant_id,
                actor,
                "auth.denied",
                f"key/{key_id}",
                after={"reason": reason},
                request_id=request_id,
            )
        )

    async def _lookup(self, key_hash: str) -> Grant | None:
        if key_hash in self._cache:
            self._cache.move_to_end(key_hash)
            return self._cache[key_hash]
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Grant | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        generation = self._generation
        try:
            async with self._engine.connect() as conn:
                grant = await load_grant(conn, key_hash)
            future.set_result(grant)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._loading[key_hash]
        if generation == self._generation:
            self._cache[key_hash] = grant
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return grant
