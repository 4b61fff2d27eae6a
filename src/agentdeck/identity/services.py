"""Identity and limits as one unit for the app: built from settings, started after the store
is migrated (init or the development principal, then grants, queues, reconciliation), and
stopped with every queued record written."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import AgentdeckError
from agentdeck.identity.access_admin import AccessAdmin
from agentdeck.identity.audit_log import AuditEvent, AuditQueue
from agentdeck.identity.authenticator import Authenticator
from agentdeck.identity.bootstrap import dev_principal, initialize
from agentdeck.identity.changes import Changes
from agentdeck.identity.directory import Directory
from agentdeck.identity.tables import team_members, tenants
from agentdeck.identity.vault import Vault, parse_master_keys
from agentdeck.kv import KV
from agentdeck.limits.service import Budget, BudgetLedger
from agentdeck.limits.spend import SpendLedger, reconcile
from agentdeck.settings import Settings, read_credential
from agentdeck.tracing.metrics import Metrics

log = logging.getLogger(__name__)


def referenced_credentials(settings: Settings) -> set[str]:
    """Names of stored credentials the model config refers to."""
    names = set()
    for spec in settings.models.values():
        splits = [s.deployment for s in (spec.canary, spec.shadow) if s is not None]
        names |= {d.credential for d in (*spec.deployments, *splits) if d.credential}
    return names


class PlatformCredentials:
    """The platform tenant's credentials that deployments use, decrypted once and re-read
    after every identity change, so a rotation takes effect without a restart."""

    def __init__(self, vault: Vault, engine: AsyncEngine, slug: str, names: set[str]) -> None:
        self._vault = vault
        self._engine = engine
        self._slug = slug
        self._names = names
        self._values: dict[str, str] = {}
        self._reload: asyncio.Task[None] | None = None

    def get(self, name: str) -> str | None:
        """The current value of credential `name`, or None when it is not stored."""
        return self._values.get(name)

    async def load(self) -> None:
        """Decrypt every referenced credential (missing ones are logged, calls then fail)."""
        if not self._names:
            return
        async with self._engine.connect() as conn:
            tenant_id = await conn.scalar(
                sa.select(tenants.c.id).where(tenants.c.slug == self._slug)
            )
        values = {}
        for name in sorted(self._names):
            try:
                values[name] = await self._vault.reveal(str(tenant_id), name)
            except AgentdeckError as exc:
                log.warning("credential %r for deployments unavailable: %s", name, exc.message)
        self._values = values

    def changed(self) -> None:
        """Re-read in the background (identity changed somewhere)."""
        if self._names and (self._reload is None or self._reload.done()):
            self._reload = asyncio.get_running_loop().create_task(self.load())


class IdentityServices:
    """Authenticator, directory, access admin, vault, audit queue, budget ledger, spend."""

    def __init__(self, settings: Settings, engine: AsyncEngine, kv: KV, metrics: Metrics) -> None:
        self._settings = settings
        self._engine = engine
        self._kv = kv
        self._metrics = metrics
        limits = settings.limits
        self.audit = AuditQueue(
            engine, limits.audit_queue_max, lambda: metrics.dropped.labels("audit").inc()
        )
        master = settings.identity.master_key_env
        master_keys = parse_master_keys(read_credential(master) if master else None)
        self.authenticator = Authenticator(
            engine,
            kv,
            self.audit,
            enabled=settings.identity.enabled,
            poll_s=settings.identity.revocation_poll_s,
            on_invalidate=self._forget_secrets,
        )
        self.changes = Changes(engine, self.authenticator.changed)
        self.vault = Vault(self.changes, master_keys)
        self.platform_credentials = PlatformCredentials(
            self.vault, engine, settings.identity.platform_tenant, referenced_credentials(settings)
        )
        self.directory = Directory(self.changes)
        self.access = AccessAdmin(self.changes, settings.identity.key_env)
        self.engine = engine
        self.ledger = BudgetLedger(
            kv, on_threshold=self._threshold, hold_s=limits.reservation_hold_s
        )
        self.spend = SpendLedger(
            engine,
            limits.spend_queue_max,
            interval_s=limits.spend_flush_interval_s,
            on_drop=metrics.dropped.labels("spend").inc,
        )

    def _forget_secrets(self) -> None:
        self.vault.forget()
        self.platform_credentials.changed()

    def _threshold(self, budget: Budget, spent: int) -> None:
        scope = budget.scope
        log.warning(
            "budget of %s %s passed %d%%: %d of %d micro-dollars this %s",
            scope.kind,
            scope.id,
            budget.soft_percent,
            spent,
            budget.limit_micros,
            budget.period,
        )
        self._metrics.budget_thresholds.labels(scope.kind).inc()
        self.audit.add(
            AuditEvent(
                budget.tenant_id or "-",
                "system:limits",
                "budget.threshold",
                f"{scope.kind}/{scope.id}",
                after={
                    "spent_micros": spent,
                    "limit_micros": budget.limit_micros,
                    "percent": budget.soft_percent,
                },
            )
        )

    async def start(self) -> None:
        """Bootstrap if asked, follow identity changes, start the queues, reconcile budgets."""
        identity = self._settings.identity
        if identity.bootstrap_on_start:
            await self._bootstrap()
        dev = None if identity.enabled else await dev_principal(self.changes, identity.key_env)
        if dev is not None:
            log.warning(
                "identity is off (development mode): requests without an agentdeck key act as "
                "the owner of tenant 'default'; set identity.enabled to require keys"
            )
        await self.authenticator.start(dev)
        await self.platform_credentials.load()
        await self.audit.start()
        await self.spend.start()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(team_members.c.team_id, team_members.c.principal_id)
            )
            members: dict[str, list[str]] = {}
            for team_id, principal_id in rows:
                members.setdefault(team_id, []).append(principal_id)
        raised = await reconcile(self._engine, self._kv, members)
        if raised:
            log.info("reconciled %d budget counters with the spend ledger", raised)

    async def _bootstrap(self) -> None:
        async with self._engine.connect() as conn:
            if await conn.scalar(sa.select(sa.func.count()).select_from(tenants)):
                return
        settings = self._settings.identity
        env = settings.bootstrap.owner_key_env
        given = read_credential(env) if env else None
        # Keys are never written to logs: without a pre-generated key, run `agentdeck init`.
        await initialize(
            self.changes, settings.bootstrap, settings.key_env, given, new_key=given is not None
        )
        log.info("bootstrapped tenant %r", settings.bootstrap.tenant)

    async def stop(self) -> None:
        """Write what is queued and stop following changes."""
        await self.spend.stop()
        await self.audit.stop()
        await self.authenticator.stop()
