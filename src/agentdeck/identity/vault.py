"""Provider credentials encrypted at rest.

Each tenant has a data key (AES-256-GCM) stored wrapped by a master key from settings; each
credential is sealed with its tenant's data key and the tenant id and credential name as
associated data, so a ciphertext copied to another tenant or name fails to open. Master keys
rotate by listing the new key first and the old after it, then `rewrap`; credentials rotate by
storing a new value (every replica picks it up on the next identity change). Values are never
returned by an API nor logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.errors import ConfigurationError, InvalidRequestError, NotFoundError
from agentdeck.identity.changes import Actor, Changes, utcnow
from agentdeck.identity.tables import credentials, tenant_keys

_NONCE = 12


def parse_master_keys(value: str | None) -> list[bytes]:
    """Master keys from settings: base64 32-byte keys, comma separated, the current first."""
    if not value:
        return []
    keys = []
    for position, part in enumerate(value.split(","), start=1):
        try:
            key = base64.b64decode(part.strip(), validate=True)
        except binascii.Error as exc:
            raise ConfigurationError(f"master key {position} is not base64") from exc
        if len(key) != 32:
            raise ConfigurationError(f"master key {position} must be 32 bytes, not {len(key)}")
        keys.append(key)
    return keys


def key_id(master: bytes) -> str:
    """A short, non-secret name for a master key."""
    return hashlib.sha256(b"agentdeck-master-key" + master).hexdigest()[:16]


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce + AES-GCM ciphertext of `plaintext` bound to `aad`."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of `seal`; raises InvalidTag when key, data or aad do not match."""
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


class Vault:
    """Stores, rotates and reads tenants' credentials."""

    def __init__(self, changes: Changes, master_keys: list[bytes]) -> None:
        self._changes = changes
        self._engine: AsyncEngine = changes.engine
        self._masters = {key_id(k): k for k in master_keys}
        self._current = master_keys[0] if master_keys else None
        self._plain: dict[tuple[str, str], str] = {}

    def _require_master(self) -> bytes:
        if self._current is None:
            raise ConfigurationError(
                "the credential store is off: set identity.master_key_env to the name of an "
                "environment variable holding a base64 32-byte key"
            )
        return self._current

    async def _data_key(self, conn: AsyncConnection, tenant_id: str, create: bool) -> bytes:
        master = self._require_master()
        row = (
            await conn.execute(
                sa.select(tenant_keys.c.master_key_id, tenant_keys.c.wrapped).where(
                    tenant_keys.c.tenant_id == tenant_id
                )
            )
        ).one_or_none()
        aad = f"tenant:{tenant_id}".encode()
        if row is None:
            if not create:
                raise NotFoundError("this tenant has no credentials")
            data_key = AESGCM.generate_key(bit_length=256)
            await conn.execute(
                tenant_keys.insert().values(
                    tenant_id=tenant_id,
                    master_key_id=key_id(master),
                    wrapped=seal(master, data_key, aad),
                )
            )
            return data_key
        wrapping = self._masters.get(row[0])
        if wrapping is None:
            raise ConfigurationError(
                f"the data key of tenant {tenant_id} is wrapped by master key {row[0]}, which "
                "is not configured: add it (after the current one) to identity.master_key_env"
            )
        try:
            return open_sealed(wrapping, row[1], aad)
        except InvalidTag as exc:
            raise ConfigurationError(
                f"the data key of tenant {tenant_id} does not decrypt with master key {row[0]} "
                "(tampered or copied)"
            ) from exc

    async def put(self, actor: Actor, name: str, value: str) -> dict[str, Any]:
        """Store or replace a credential; returns its name and version, never its value."""
        if not name or len(name) > 100 or not value:
            raise InvalidRequestError("a credential needs a name (1-100 characters) and a value")
        async with self._changes.open(actor) as change:
            data_key = await self._data_key(change.conn, actor.tenant_id, create=True)
            sealed = seal(data_key, value.encode(), f"{actor.tenant_id}/{name}".encode())
            version = await change.conn.scalar(
                sa.select(credentials.c.version).where(
                    credentials.c.tenant_id == actor.tenant_id, credentials.c.name == name
                )
            )
            values = {"sealed": sealed, "updated_at": utcnow(), "version": (version or 0) + 1}
            if version is None:
                await change.conn.execute(
                    credentials.insert().values(tenant_id=actor.tenant_id, name=name, **values)
                )
            else:
                await change.conn.execute(
                    credentials.update()
                    .where(credentials.c.tenant_id == actor.tenant_id, credentials.c.name == name)
                    .values(**values)
                )
            change.record(
                "credential.put",
                f"credential/{name}",
                {"version": version} if version else None,
                {"version": values["version"]},
            )
        self._plain.pop((actor.tenant_id, name), None)
        return {"name": name, "version": values["version"]}

    async def delete(self, actor: Actor, name: str) -> None:
        """Remove a credential."""
        async with self._changes.open(actor) as change:
            done = await change.conn.execute(
                credentials.delete().where(
                    credentials.c.tenant_id == actor.tenant_id, credentials.c.name == name
                )
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no credential {name!r}")
            change.record("credential.delete", f"credential/{name}")
        self._plain.pop((actor.tenant_id, name), None)

    async def names(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's credentials: names, versions and times only."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(credentials.c.name, credentials.c.version, credentials.c.updated_at)
                .where(credentials.c.tenant_id == tenant_id)
                .order_by(credentials.c.name)
            )
            return [{"name": n, "version": v, "updated_at": str(u)} for n, v, u in rows]

    async def reveal(self, tenant_id: str, name: str) -> str:
        """A credential's value, for injecting into an upstream call (cached in memory)."""
        cached = self._plain.get((tenant_id, name))
        if cached is not None:
            return cached
        async with self._engine.connect() as conn:
            sealed = await conn.scalar(
                sa.select(credentials.c.sealed).where(
                    credentials.c.tenant_id == tenant_id, credentials.c.name == name
                )
            )
            if sealed is None:
                raise NotFoundError(f"no credential {name!r}")
            data_key = await self._data_key(conn, tenant_id, create=False)
        try:
            value = open_sealed(data_key, sealed, f"{tenant_id}/{name}".encode()).decode()
        except InvalidTag as exc:
            raise ConfigurationError(
                f"credential {name!r} does not decrypt for this tenant (tampered or copied)"
            ) from exc
        self._plain[(tenant_id, name)] = value
        return value

    async def seal_value(self, tenant_id: str, purpose: str, value: str) -> bytes | None:
        """`value` sealed with the tenant's data key for `purpose` (a secret another store
        keeps, such as a webhook signing secret); None when no master key is configured."""
        if self._current is None:
            return None
        async with self._engine.begin() as conn:
            data_key = await self._data_key(conn, tenant_id, create=True)
        return seal(data_key, value.encode(), f"sealed:{tenant_id}:{purpose}".encode())

    async def open_value(self, tenant_id: str, purpose: str, sealed: bytes) -> str:
        """A value `seal_value` sealed for the same tenant and purpose."""
        async with self._engine.connect() as conn:
            data_key = await self._data_key(conn, tenant_id, create=False)
        try:
            return open_sealed(data_key, sealed, f"sealed:{tenant_id}:{purpose}".encode()).decode()
        except InvalidTag as exc:
            raise ConfigurationError(
                f"the sealed {purpose} does not decrypt for this tenant (tampered or copied)"
            ) from exc

    def cached(self, tenant_id: str, name: str) -> str | None:
        """A credential's value if it was revealed since the last change, else None."""
        return self._plain.get((tenant_id, name))

    def forget(self) -> None:
        """Drop every cached value (after a change anywhere)."""
        self._plain.clear()

    async def rewrap(self) -> int:
        """Re-wrap every tenant data key with the current master key; returns how many moved."""
        master = self._require_master()
        current = key_id(master)
        moved = 0
        async with self._engine.begin() as conn:
            rows = (await conn.execute(sa.select(tenant_keys))).all()
            for tenant_id, master_id, _ in rows:
                if master_id == current:
                    continue
                data_key = await self._data_key(conn, tenant_id, create=False)
                aad = f"tenant:{tenant_id}".encode()
                await conn.execute(
                    tenant_keys.update()
                    .where(tenant_keys.c.tenant_id == tenant_id)
                    .values(master_key_id=current, wrapped=seal(master, data_key, aad))
                )
                moved += 1
        return moved
