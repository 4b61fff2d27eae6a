"""Alert channels, metric rules and SLOs of a tenant: create, change, delete (each audited in
the same transaction), read. Webhook signing secrets are sealed with the tenant's data key when
a master key is configured, and are shown only when a channel is created or its secret set.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.errors import ConflictError, InvalidRequestError, NotFoundError
from agentdeck.identity.audit_log import AuditEvent, append
from agentdeck.tracing.alerts.history import resolve_on_stop
from agentdeck.tracing.alerts.models import MetricRuleSpec, SloSpec
from agentdeck.tracing.alerts.tables import alert_channels, alert_rules
from agentdeck.tracing.queries import iso_time

_CH = alert_channels.c
_R = alert_rules.c
Spec = MetricRuleSpec | SloSpec


class SecretBox(Protocol):
    """Seals and opens per-tenant secrets (the identity vault)."""

    async def seal_value(self, tenant_id: str, purpose: str, value: str) -> bytes | None:
        """The sealed value, or None when sealing is not configured."""

    async def open_value(self, tenant_id: str, purpose: str, sealed: bytes) -> str:
        """The value `seal_value` sealed."""


@dataclass(frozen=True, slots=True)
class Author:
    """Who makes a change, for the audit log."""

    tenant_id: str
    name: str
    request_id: str | None = None


def new_id(prefix: str) -> str:
    """A fresh id such as `alr_4f0c9a1b2d3e5f60`."""
    return f"{prefix}_{secrets.token_hex(8)}"


def check_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL; 400 naming `url` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("url must be an absolute http:// or https:// URL", param="url")
    return url


def kind_of(spec: Spec) -> str:
    """`metric` or `slo`."""
    return "slo" if isinstance(spec, SloSpec) else "metric"


def _channel_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "secret_sealed": row.secret_sealed is not None,
        "created_by": row.created_by,
        "created_at": iso_time(row.created_ns),
        "updated_at": iso_time(row.updated_ns),
    }


def rule_json(row: Any) -> dict[str, Any]:
    """A stored rule or SLO as the API shows it."""
    return {
        "id": row.id,
        "kind": row.kind,
        **orjson.loads(row.spec),
        "state": row.state,
        "firing_severity": row.severity,
        "last_value": row.last_value,
        "last_evaluated_at": iso_time(row.last_evaluated_ns) if row.last_evaluated_ns else None,
        "last_error": row.last_error,
        "next_evaluation_at": iso_time(row.next_eval_ns),
        "created_by": row.created_by,
        "created_at": iso_time(row.created_ns),
        "updated_at": iso_time(row.updated_ns),
    }


class AlertStore:
    """Channels and rules of one store, always within one tenant."""

    def __init__(self, engine: AsyncEngine, secrets_box: SecretBox) -> None:
        self._engine = engine
        self._box = secrets_box

    # Channels

    async def create_channel(
        self, author: Author, name: str, url: str, secret: str | None
    ) -> dict[str, Any]:
        """A new webhook channel; the answer holds its signing secret (generated when not
        given), which is not shown again."""
        channel_id = new_id("ach")
        secret = secret or f"whsec_{secrets.token_urlsafe(32)}"
        now = time.time_ns()
        values = {
            "id": channel_id,
            "tenant_id": author.tenant_id,
            "name": name,
            "url": check_url(url),
            **await self._secret_columns(author.tenant_id, channel_id, secret),
            "created_by": author.name,
            "created_ns": now,
            "updated_ns": now,
        }
        async with self._engine.begin() as conn:
            await conn.execute(alert_channels.insert().values(values))
            await _audit(
                conn,
                author,
                "alert-channel.create",
                f"alert-channel/{channel_id}",
                None,
                {"name": name, "url": url},
            )
        return {**await self.channel(author.tenant_id, channel_id), "secret": secret}

    async def update_channel(
        self, author: Author, channel_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Change a channel's name, url or secret (the answer shows a secret that was set)."""
        before = await self.channel(author.tenant_id, channel_id)
        values: dict[str, Any] = {"updated_ns": time.time_ns()}
        if changes.get("name") is not None:
            values["name"] = changes["name"]
        if changes.get("url") is not None:
            values["url"] = check_url(changes["url"])
        secret = changes.get("secret")
        if secret is not None:
            values |= await self._secret_columns(author.tenant_id, channel_id, secret)
        async with self._engine.begin() as conn:
            await conn.execute(
                alert_channels.update()
                .where(_CH.tenant_id == author.tenant_id, _CH.id == channel_id)
                .values(values)
            )
            shown = {k: v for k, v in values.items() if k in ("name", "url")}
            if secret is not None:
                shown["secret"] = "changed"  # noqa: S105 - a marker, not the secret
            await _audit(
                conn,
                author,
                "alert-channel.update",
                f"alert-channel/{channel_id}",
                {"name": before["name"], "url": before["url"]},
                shown,
            )
        found = await self.channel(author.tenant_id, channel_id)
        return {**found, "secret": secret} if secret is not None else found

    async def delete_channel(self, author: Author, channel_id: str) -> None:
        """Remove a channel no rule sends to (409 naming the rules that do)."""
        before = await self.channel(author.tenant_id, channel_id)
        async with self._engine.begin() as conn:
            users = [
                name
                for name, ids in await conn.execute(
                    sa.select(_R.name, _R.channel_ids).where(_R.tenant_id == author.tenant_id)
                )
                if channel_id in orjson.loads(ids)
            ]
            if users:
                raise ConflictError(
                    f"alert channel {channel_id} is used by {', '.join(sorted(users)[:10])}: "
                    "take it off those rules first"
                )
            await conn.execute(
                alert_channels.delete().where(
                    _CH.tenant_id == author.tenant_id, _CH.id == channel_id
                )
            )
            await _audit(
                conn,
                author,
                "alert-channel.delete",
                f"alert-channel/{channel_id}",
                {"name": before["name"], "url": before["url"]},
                None,
            )

    async def channels(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's channels (never their secrets)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(alert_channels)
                .where(_CH.tenant_id == tenant_id)
                .order_by(_CH.created_ns, _CH.id)
            )
            return [_channel_json(row) for row in rows]

    async def channel(self, tenant_id: str, channel_id: str) -> dict[str, Any]:
        """One channel of the tenant (404 otherwise)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(alert_channels).where(
                        _CH.tenant_id == tenant_id, _CH.id == channel_id
                    )
                )
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no alert channel {channel_id!r}")
        return _channel_json(row)

    async def channel_target(self, tenant_id: str, channel_id: str) -> tuple[str, str] | None:
        """A channel's url and signing secret, or None when it was deleted."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(_CH.url, _CH.secret, _CH.secret_sealed).where(
                        _CH.tenant_id == tenant_id, _CH.id == channel_id
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        if row.secret_sealed is not None:
            return row.url, await self._box.open_value(
                tenant_id, f"alert-channel:{channel_id}", row.secret_sealed
            )
        return row.url, row.secret

    async def _secret_columns(self, tenant_id: str, channel_id: str, secret: str) -> dict[str, Any]:
        sealed = await self._box.seal_value(tenant_id, f"alert-channel:{channel_id}", secret)
        return (
            {"secret": None, "secret_sealed": sealed}
            if sealed
            else {"secret": secret, "secret_sealed": None}
        )

    # Rules and SLOs

    async def create_rule(self, author: Author, spec: Spec) -> dict[str, Any]:
        """A new metric rule or SLO, due for evaluation at once."""
        kind, now = kind_of(spec), time.time_ns()
        rule_id = new_id("slo" if kind == "slo" else "alr")
        async with self._engine.begin() as conn:
            await self._check_channels(conn, author.tenant_id, spec.channels)
            await conn.execute(
                alert_rules.insert().values(
                    id=rule_id,
                    tenant_id=author.tenant_id,
                    kind=kind,
                    **_spec_columns(spec),
                    state="ok",
                    severity=None,
                    next_eval_ns=now,
                    created_by=author.name,
                    created_ns=now,
                    updated_ns=now,
                )
            )
            await _audit(
                conn,
                author,
                f"{_noun(kind)}.create",
                f"{_noun(kind)}/{rule_id}",
                None,
                spec.model_dump(mode="json"),
            )
        return await self.rule(author.tenant_id, kind, rule_id)

    async def replace_rule(self, author: Author, rule_id: str, spec: Spec) -> dict[str, Any]:
        """Replace what a rule or SLO says; it is evaluated again at once. A firing rule that
        is switched off resolves (recorded and delivered)."""
        kind = kind_of(spec)
        async with self._engine.begin() as conn:
            row = await self._row(conn, author.tenant_id, kind, rule_id)
            await self._check_channels(conn, author.tenant_id, spec.channels)
            now = time.time_ns()
            if not spec.enabled:
                await resolve_on_stop(conn, row, "switched off", now)
            await conn.execute(
                alert_rules.update()
                .where(_R.id == rule_id)
                .values(**_spec_columns(spec), next_eval_ns=now, updated_ns=now)
            )
            await _audit(
                conn,
                author,
                f"{_noun(kind)}.update",
                f"{_noun(kind)}/{rule_id}",
                orjson.loads(row.spec),
                spec.model_dump(mode="json"),
            )
        return await self.rule(author.tenant_id, kind, rule_id)

    async def delete_rule(self, author: Author, kind: str, rule_id: str) -> None:
        """Remove a rule or SLO; if it was firing it resolves (recorded and delivered)."""
        async with self._engine.begin() as conn:
            row = await self._row(conn, author.tenant_id, kind, rule_id)
            await resolve_on_stop(conn, row, "deleted", time.time_ns())
            await conn.execute(alert_rules.delete().where(_R.id == rule_id))
            await _audit(
                conn,
                author,
                f"{_noun(kind)}.delete",
                f"{_noun(kind)}/{rule_id}",
                orjson.loads(row.spec),
                None,
            )

    async def rules(self, tenant_id: str, kind: str) -> list[dict[str, Any]]:
        """The tenant's metric rules or SLOs, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(alert_rules)
                .where(_R.tenant_id == tenant_id, _R.kind == kind)
                .order_by(_R.created_ns, _R.id)
            )
            return [rule_json(row) for row in rows]

    async def rule(self, tenant_id: str, kind: str, rule_id: str) -> dict[str, Any]:
        """One rule or SLO of the tenant (404 otherwise)."""
        async with self._engine.connect() as conn:
            return rule_json(await self._row(conn, tenant_id, kind, rule_id))

    async def rule_row(self, tenant_id: str, kind: str, rule_id: str) -> Any:
        """One rule or SLO of the tenant as stored (404 otherwise)."""
        async with self._engine.connect() as conn:
            return await self._row(conn, tenant_id, kind, rule_id)

    @staticmethod
    async def _row(conn: AsyncConnection, tenant_id: str, kind: str, rule_id: str) -> Any:
        row = (
            await conn.execute(
                sa.select(alert_rules).where(
                    _R.tenant_id == tenant_id, _R.kind == kind, _R.id == rule_id
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no {'SLO' if kind == 'slo' else 'alert rule'} {rule_id!r}")
        return row

    @staticmethod
    async def _check_channels(conn: AsyncConnection, tenant_id: str, ids: Sequence[str]) -> None:
        found = set(
            (
                await conn.execute(
                    sa.select(_CH.id).where(_CH.tenant_id == tenant_id, _CH.id.in_(list(ids)))
                )
            ).scalars()
        )
        unknown = [channel for channel in ids if channel not in found]
        if unknown:
            raise InvalidRequestError(f"no alert channel {unknown[0]!r}", param="channels")


def _noun(kind: str) -> str:
    return "slo" if kind == "slo" else "alert-rule"


def _spec_columns(spec: Spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "spec": orjson.dumps(spec.model_dump(mode="json")).decode(),
        "channel_ids": orjson.dumps(list(dict.fromkeys(spec.channels))).decode(),
        "enabled": spec.enabled,
        "interval_s": spec.interval_s,
    }


async def _audit(
    conn: AsyncConnection, author: Author, action: str, resource: str, before: Any, after: Any
) -> None:
    event = AuditEvent(
        author.tenant_id, author.name, action, resource, before, after, author.request_id
    )
    await append(conn, [event])
