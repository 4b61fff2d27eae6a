"""`agentdeck init`, `keys`, `users`, `limits`, `budgets`, `credentials` and `audit`: the
identity commands, run against the configured store (and kv, so running replicas drop their
cached grants at once)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from agentdeck.cli.common import ConfigOption, console, settings_or_exit
from agentdeck.errors import AgentdeckError
from agentdeck.settings import Settings, read_credential

T = TypeVar("T")
out = Console(soft_wrap=True)
TenantOption = typer.Option(None, "--tenant", "-t", help="tenant slug (default: bootstrap tenant)")


@dataclass
class Session:
    """The store, kv and identity services one command uses."""

    settings: Settings
    tenant_id: str
    actor: Any
    directory: Any
    access: Any
    vault: Any
    engine: Any


@asynccontextmanager
async def _session(settings: Settings, tenant: str | None) -> AsyncIterator[Session]:
    from agentdeck.db import create_engine, migrate
    from agentdeck.identity.access_admin import AccessAdmin
    from agentdeck.identity.authenticator import CHANNEL
    from agentdeck.identity.changes import Actor, Changes
    from agentdeck.identity.directory import Directory
    from agentdeck.identity.tables import tenants
    from agentdeck.identity.vault import Vault, parse_master_keys
    from agentdeck.kv import create_kv

    engine = create_engine(settings.database)
    kv = create_kv(settings.kv)

    async def changed() -> None:
        await kv.publish(CHANNEL, b"changed")

    try:
        await migrate(engine)
        slug = tenant or settings.identity.bootstrap.tenant
        async with engine.connect() as conn:
            tenant_id = await conn.scalar(sa.select(tenants.c.id).where(tenants.c.slug == slug))
        changes = Changes(engine, changed)
        master = settings.identity.master_key_env
        vault = Vault(changes, parse_master_keys(read_credential(master) if master else None))
        yield Session(
            settings,
            str(tenant_id or ""),
            Actor(str(tenant_id or "-"), "cli:agentdeck"),
            Directory(changes),
            AccessAdmin(changes, settings.identity.key_env),
            vault,
            engine,
        )
    finally:
        await kv.aclose()
        await engine.dispose()


def _run(
    config: Path | None,
    tenant: str | None,
    work: Callable[[Session], Awaitable[T]],
    need_tenant: bool = True,
) -> T:
    settings = settings_or_exit(config)

    async def main() -> T:
        async with _session(settings, tenant) as session:
            if need_tenant and not session.tenant_id:
                slug = tenant or settings.identity.bootstrap.tenant
                raise typer.BadParameter(f"no tenant {slug!r}: run `agentdeck init` first")
            return await work(session)

    try:
        return asyncio.run(main())
    except AgentdeckError as exc:
        console.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def init(
    config: Path | None = ConfigOption,
    tenant: str | None = typer.Option(None, help="tenant slug (default identity.bootstrap)"),
    project: str | None = typer.Option(None, help="project slug"),
    owner: str | None = typer.Option(None, help="owner user name"),
) -> None:
    """Create the first tenant, project and owner, and print an owner key (shown once).

    With identity.bootstrap.owner_key_env set, installs that pre-generated key instead
    (for deployments); running init again adds a new owner key and changes nothing else.
    """
    settings = settings_or_exit(config)
    boot = settings.identity.bootstrap.model_copy(
        update={
            k: v
            for k, v in {"tenant": tenant, "project": project, "owner": owner}.items()
            if v is not None
        }
    )
    given = read_credential(boot.owner_key_env) if boot.owner_key_env else None

    async def work(session: Session) -> Any:
        from agentdeck.identity.bootstrap import initialize
        from agentdeck.identity.changes import Changes

        changes = Changes(session.engine)
        return await initialize(changes, boot, settings.identity.key_env, given)

    result = _run(config, None, work, need_tenant=False)
    verb = "created" if result.created else "found"
    typer.echo(
        f"{verb} tenant {boot.tenant} ({result.tenant_id}), project {boot.project} "
        f"({result.project_id}), owner {boot.owner} ({result.principal_id})"
    )
    if result.key is not None:
        typer.echo(f"owner key (shown once, store it now): {result.key}")
    else:
        typer.echo(f"owner key from {boot.owner_key_env} installed")


keys = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)
users = typer.Typer(help="Users and service accounts.", no_args_is_help=True)
limits = typer.Typer(help="Rate limits (requests or tokens per minute).", no_args_is_help=True)
budgets = typer.Typer(help="Budgets in USD per day, month or in total.", no_args_is_help=True)
credentials = typer.Typer(help="Provider credentials, encrypted at rest.", no_args_is_help=True)
audit = typer.Typer(help="Verify and export the audit log.", no_args_is_help=True)
KEY_COLUMNS = ["id", "name", "display", "principal_id", "project_id", "expires_at", "revoked_at"]


@keys.command("create")
def keys_create(
    principal: str = typer.Argument(..., help="user or service account id"),
    name: str = typer.Option("key", help="a name for the key"),
    project: str | None = typer.Option(None, help="project id (default: the tenant's first)"),
    expires_days: int | None = typer.Option(None, help="expire after this many days"),
    models: list[str] = typer.Option([], "--model", help="allowed alias pattern (repeatable)"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Create a key for PRINCIPAL and print it (shown once)."""

    async def work(s: Session) -> Any:
        project_id = project or (await s.directory.list_projects(s.tenant_id))[0]["id"]
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        return await s.access.create_key(
            s.actor, principal, project_id, name, expires, models or None
        )

    record, key = _run(config, tenant, work)
    typer.echo(f"{record['id']}: {key}")


@keys.command("list")
def keys_list(config: Path | None = ConfigOption, tenant: str | None = TenantOption) -> None:
    """List the tenant's keys (never the keys themselves)."""
    _table(_run(config, tenant, lambda s: s.access.list_keys(s.tenant_id)), KEY_COLUMNS)


@keys.command("revoke")
def keys_revoke(
    key_id: str, config: Path | None = ConfigOption, tenant: str | None = TenantOption
) -> None:
    """Revoke KEY_ID (refused on every replica within seconds)."""
    _run(config, tenant, lambda s: s.access.revoke_key(s.actor, key_id))
    typer.echo(f"revoked {key_id}")


@keys.command("rotate")
def keys_rotate(
    key_id: str,
    overlap: int = typer.Option(3600, help="seconds the old key keeps working"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Replace KEY_ID by a new key; print the new one (shown once)."""
    record, key = _run(config, tenant, lambda s: s.access.rotate_key(s.actor, key_id, overlap))
    typer.echo(f"{record['id']}: {key}")


@users.command("create")
def users_create(
    name: str,
    email: str | None = typer.Option(None),
    service: bool = typer.Option(False, "--service", help="a service account, not a user"),
    role: str | None = typer.Option(None, help="bind this role in the whole tenant"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Create a user (or service account) and optionally give it a role."""

    async def work(s: Session) -> Any:
        made = await s.directory.create_principal(
            s.actor, "service" if service else "user", name, email
        )
        if role:
            await s.access.bind_role(s.actor, made["id"], role, None)
        return made

    typer.echo(_run(config, tenant, work)["id"])


@users.command("list")
def users_list(config: Path | None = ConfigOption, tenant: str | None = TenantOption) -> None:
    """List users and service accounts."""
    rows = _run(config, tenant, lambda s: s.directory.list_principals(s.tenant_id))
    _table(rows, ["id", "kind", "name", "email", "disabled"])


@users.command("disable")
def users_disable(
    principal: str, config: Path | None = ConfigOption, tenant: str | None = TenantOption
) -> None:
    """Disable PRINCIPAL: its keys stop working everywhere."""
    _run(config, tenant, lambda s: s.directory.set_disabled(s.actor, principal, True))
    typer.echo(f"disabled {principal}")


def _set_rule(
    config: Path | None,
    tenant: str | None,
    scope: str,
    metric: str,
    amount: int,
    period: str,
    soft: int | None,
) -> dict[str, Any]:
    from agentdeck.limits.policy import LimitRule

    kind, _, scope_id = scope.partition(":")
    if not scope_id:
        raise typer.BadParameter("scope is KIND:ID, e.g. key:key_0123 or model:gpt-4o")

    async def work(s: Session) -> Any:
        settings_models = set(s.settings.models) | set(s.settings.fake_models) | {"fake"}
        target = s.tenant_id if kind == "tenant" and scope_id == "-" else scope_id
        rule = LimitRule("", s.tenant_id, kind, target, metric, amount, period, soft)  # type: ignore[arg-type]  # checked by set_limit
        return await s.access.set_limit(s.actor, rule, settings_models)

    return _run(config, tenant, work)


@limits.command("set")
def limits_set(
    scope: str = typer.Argument(..., help="KIND:ID; tenant:- for the whole tenant"),
    requests: int | None = typer.Option(None, help="requests per minute"),
    tokens: int | None = typer.Option(None, help="tokens per minute"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Set requests and/or tokens per minute for a scope."""
    if requests is None and tokens is None:
        raise typer.BadParameter("give --requests and/or --tokens")
    for metric, amount in (("requests", requests), ("tokens", tokens)):
        if amount is not None:
            row = _set_rule(config, tenant, scope, metric, amount, "minute", None)
            typer.echo(f"{row['id']}: {amount} {metric}/minute for {scope}")


@limits.command("list")
def limits_list(config: Path | None = ConfigOption, tenant: str | None = TenantOption) -> None:
    """List rate limits and budgets."""
    rows = _run(config, tenant, lambda s: s.access.list_limits(s.tenant_id))
    _table(rows, ["id", "scope_kind", "scope_id", "metric", "amount", "period", "soft_percent"])


@budgets.command("set")
def budgets_set(
    scope: str = typer.Argument(..., help="KIND:ID; tenant:- for the whole tenant"),
    usd: float = typer.Option(..., help="the budget in USD"),
    period: str = typer.Option("month", help="day, month or total"),
    soft: int | None = typer.Option(None, help="emit an event at this percent"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Set a budget for a scope."""
    micros = round(usd * 1_000_000)
    row = _set_rule(config, tenant, scope, "cost", micros, period, soft)
    typer.echo(f"{row['id']}: ${usd:.2f} per {period} for {scope}")


@credentials.command("put")
def credentials_put(
    name: str, config: Path | None = ConfigOption, tenant: str | None = TenantOption
) -> None:
    """Store or rotate credential NAME; the value is read from stdin (never an argument)."""
    value = sys.stdin.readline().rstrip("\n")
    row = _run(config, tenant, lambda s: s.vault.put(s.actor, name, value))
    typer.echo(f"stored {name} (version {row['version']})")


@credentials.command("list")
def credentials_list(config: Path | None = ConfigOption, tenant: str | None = TenantOption) -> None:
    """List credential names and versions."""
    _table(
        _run(config, tenant, lambda s: s.vault.names(s.tenant_id)),
        ["name", "version", "updated_at"],
    )


@credentials.command("rewrap")
def credentials_rewrap(config: Path | None = ConfigOption) -> None:
    """Re-wrap every tenant's data key with the current (first) master key."""
    moved = _run(config, None, lambda s: s.vault.rewrap())
    typer.echo(f"re-wrapped {moved} tenant data keys")


@audit.command("verify")
def audit_verify(
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
    every: bool = typer.Option(False, "--all", help="every tenant's chain"),
) -> None:
    """Verify the hash chain; exit 1 naming the first bad position when it was tampered with."""
    from agentdeck.identity.audit_log import tenants_with_events, verify_tenant

    async def work(s: Session) -> list[tuple[str, Any]]:
        ids = await tenants_with_events(s.engine) if every else [s.tenant_id]
        return [(tenant_id, await verify_tenant(s.engine, tenant_id)) for tenant_id in ids]

    bad = False
    for tenant_id, verdict in _run(config, tenant, work):
        if verdict.ok:
            typer.echo(f"{tenant_id}: ok, {verdict.checked} events")
        else:
            bad = True
            typer.echo(f"{tenant_id}: BAD at position {verdict.bad_position}: {verdict.reason}")
    if bad:
        raise typer.Exit(1)


@audit.command("export")
def audit_export(
    output: Path | None = typer.Option(None, "--output", "-o", help="file (default stdout)"),
    config: Path | None = ConfigOption,
    tenant: str | None = TenantOption,
) -> None:
    """Write the tenant's audit log as JSON Lines."""
    from agentdeck.identity.audit_log import events

    async def work(s: Session) -> int:
        count = 0
        sink = output.open("wb") if output is not None else sys.stdout.buffer
        try:
            async for event in events(s.engine, s.tenant_id):
                sink.write(orjson.dumps(event) + b"\n")
                count += 1
        finally:
            if output is not None:
                sink.close()
        return count

    count = _run(config, tenant, work)
    if output is not None:
        typer.echo(f"wrote {count} events to {output}")
