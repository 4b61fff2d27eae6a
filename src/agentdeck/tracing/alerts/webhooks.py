"""Webhook deliveries: each alert event is POSTed as JSON to each channel of its rule, signed
with the channel's secret (`signing`), and retried with backoff until the receiver answers 2xx
or the attempts run out.

A 2xx answer delivers. A timeout, a connection failure, 408, 425, 429 or a 5xx is retried after
the configured pause (or the receiver's Retry-After, up to the largest pause). Any other answer
(a 4xx: the receiver refuses this request as such) fails the delivery at once. The attempt is
counted when it is claimed, so a replica dying mid-send cannot retry forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck import __version__
from agentdeck.errors import AgentdeckError
from agentdeck.settings_alerts import AlertSettings
from agentdeck.tracing.aggregates import SECOND_NS
from agentdeck.tracing.alerts.history import event_json
from agentdeck.tracing.alerts.signing import HEADER, sign
from agentdeck.tracing.alerts.store import AlertStore
from agentdeck.tracing.alerts.tables import alert_deliveries, alert_events

log = logging.getLogger(__name__)
_D = alert_deliveries.c
_E = alert_events.c
RETRIED_STATUSES = frozenset({408, 425, 429})
LEASE_MARGIN_S = 30


def payload(event: dict[str, Any], tenant_id: str, delivery_id: str, attempt: int) -> bytes:
    """The JSON body of a delivery."""
    kind = "alert.test" if event["state"] == "test" else f"alert.{event['state']}"
    return orjson.dumps(
        {
            "type": kind,
            "tenant_id": tenant_id,
            "delivery_id": delivery_id,
            "attempt": attempt,
            "event": event,
        }
    )


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header in seconds (only the delta-seconds form)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def private_target(url: str) -> str | None:
    """Why `url` may not be delivered to when private addresses are refused (its host is or
    resolves to a loopback, private, link-local or reserved address), or None."""
    host = urlsplit(url).hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return None  # unresolvable: the send fails with its own error, and is retried
    for info in found:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return (
                f"{host} is {address}, not a public address: deliveries there need "
                "alerts.allow_private_urls"
            )
    return None


class WebhookDeliverer:
    """Sends due deliveries and records each attempt's outcome."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: AlertStore,
        settings: AlertSettings,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._settings = settings
        self._on_attempt = on_attempt
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.delivery_timeout_s),
                headers={"User-Agent": f"agentdeck/{__version__}"},
            )
        return self._session

    async def refused(self, url: str) -> str | None:
        """Why `url` is refused (a private address, unless allowed), or None."""
        return None if self._settings.allow_private_urls else await private_target(url)

    async def send(
        self, url: str, secret: str, body: bytes, ids: dict[str, str]
    ) -> tuple[int | None, str | None, float | None]:
        """POST a signed body once: (status or None, error or None, Retry-After seconds)."""
        headers = {"Content-Type": "application/json", HEADER: sign(secret, body), **ids}
        post = self._http().post
        try:
            async with post(url, data=body, headers=headers, allow_redirects=False) as answer:
                await answer.read()
                return answer.status, None, retry_after_s(answer.headers.get("Retry-After"))
        except TimeoutError:
            return None, f"no answer within {self._settings.delivery_timeout_s:g} s", None
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], None

    async def deliver_due(self, now_ns: int | None = None) -> int:
        """Claim and send the deliveries due at `now_ns`; how many attempts were made."""
        now = time.time_ns() if now_ns is None else now_ns
        async with self._engine.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(alert_deliveries)
                    .where(_D.status == "pending", _D.next_attempt_ns <= now)
                    .order_by(_D.next_attempt_ns)
                    .limit(self._settings.batch)
                )
            ).all()
        claimed = [row for row in due if await self._claim(row, now)]
        gate = asyncio.Semaphore(self._settings.concurrency)

        async def attempt(row: Any) -> None:
            async with gate:
                await self._attempt(row, now)

        await asyncio.gather(*(attempt(row) for row in claimed))
        return len(claimed)

    async def _claim(self, row: Any, now_ns: int) -> bool:
        lease = now_ns + round((self._settings.delivery_timeout_s + LEASE_MARGIN_S) * SECOND_NS)
        async with self._engine.begin() as conn:
            done = await conn.execute(
                alert_deliveries.update()
                .where(
                    _D.id == row.id,
                    _D.status == "pending",
                    _D.next_attempt_ns == row.next_attempt_ns,
                )
                .values(next_attempt_ns=lease, attempts=_D.attempts + 1)
            )
        return bool(done.rowcount == 1)

    async def _attempt(self, row: Any, now_ns: int) -> None:
        attempt = row.attempts + 1
        async with self._engine.connect() as conn:
            event = (
                await conn.execute(sa.select(alert_events).where(_E.id == row.event_id))
            ).one_or_none()
        try:
            target = await self._store.channel_target(row.tenant_id, row.channel_id)
        except AgentdeckError as exc:  # a secret that no longer opens (master key removed)
            await self._finish(row.id, "failed", None, str(exc), None)
            self._count("failed")
            return
        if event is None or target is None:
            await self._finish(row.id, "failed", None, "the channel or the event was deleted", None)
            self._count("failed")
            return
        url, secret = target
        body = payload(event_json(event), row.tenant_id, row.id, attempt)
        ids = {"X-Agentdeck-Event": row.event_id, "X-Agentdeck-Delivery": row.id}
        refused = await self.refused(url)
        if refused is not None:
            await self._finish(row.id, "failed", None, refused, None)
            self._count("failed")
            return
        status, error, wait_s = await self.send(url, secret, body, ids)
        if status is not None and 200 <= status < 300:
            await self._finish(row.id, "delivered", status, None, None, delivered_ns=time.time_ns())
            self._count("delivered")
            return
        retried = status is None or status in RETRIED_STATUSES or status >= 500
        error = error or f"the receiver answered {status}"
        if not retried or attempt >= self._settings.max_attempts:
            await self._finish(row.id, "failed", status, error, None)
            self._count("failed")
            return
        following = now_ns + self._pause_ns(attempt, wait_s)
        await self._finish(row.id, "pending", status, error, following)
        self._count("retried")

    def _pause_ns(self, attempt: int, retry_after: float | None) -> int:
        pauses = self._settings.retry_backoff_s
        pause = pauses[min(attempt - 1, len(pauses) - 1)] * random.uniform(0.9, 1.1)  # noqa: S311
        if retry_after is not None:
            pause = min(max(pause, retry_after), max(pauses))
        return round(pause * SECOND_NS)

    async def _finish(
        self,
        delivery_id: str,
        status: str,
        last_status: int | None,
        error: str | None,
        next_ns: int | None,
        delivered_ns: int | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "last_status": last_status,
            "last_error": error,
            "delivered_ns": delivered_ns,
        }
        if next_ns is not None:
            values["next_attempt_ns"] = next_ns
        async with self._engine.begin() as conn:
            await conn.execute(alert_deliveries.update().where(_D.id == delivery_id).values(values))

    def _count(self, outcome: str) -> None:
        if self._on_attempt is not None:
            self._on_attempt(outcome)
