"""`PromptRegistry`: the prompt registry's logic. Versions are created (never edited) and
archived, labels moved, deleted and rolled back; each change runs in one transaction with its
label history and its audit event, then every replica's resolver is told to drop the prompt
(kv pub/sub on `agentdeck:prompts`, and this process's listeners at once)."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.errors import ConflictError, InvalidRequestError, NotFoundError
from agentdeck.identity.audit_log import AuditEvent, append
from agentdeck.identity.grants import Grant, load_principal_grant
from agentdeck.identity.rbac import Access
from agentdeck.kv import KV
from agentdeck.prompts import store
from agentdeck.prompts.diff import json_changes, unified
from agentdeck.prompts.models import (
    DEFAULT_LABEL,
    VERSION_MAX,
    LabelState,
    LabelTarget,
    PromptContent,
    PromptKey,
    Version,
    check_label,
    content_hash,
)
from agentdeck.prompts.render import check_content
from agentdeck.prompts.store import PromptStore, summary_json

log = logging.getLogger(__name__)
CHANNEL = "agentdeck:prompts"
LABEL_PERMISSION = "prompts:label"
Authorize = Callable[[str], None]  # raises (403, audited) unless the caller holds it


@dataclass(frozen=True, slots=True)
class Author:
    """Who makes a change: the tenant, the caller's actor string, the request."""

    tenant_id: str
    name: str
    request_id: str | None = None


def invalidation(origin: str, key: PromptKey) -> bytes:
    """The message that tells resolvers to drop `key`, sent by registry `origin`."""
    return orjson.dumps([origin, key.tenant_id, key.project_id, key.name])


class PromptRegistry:
    """Prompts of one store; every change audited and announced."""

    def __init__(
        self, engine: AsyncEngine, kv: KV, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self.store = PromptStore(engine)
        self._kv = kv
        self._clock = clock
        self._listeners: list[Callable[[PromptKey], None]] = []
        # Names this registry's own announcements: its listeners heard of the change at once,
        # so their resolver ignores the echo instead of reading the prompt a second time.
        self.origin = secrets.token_hex(8)

    def on_change(self, listener: Callable[[PromptKey], None]) -> None:
        """Call `listener` with the prompt after each change made through this registry."""
        self._listeners.append(listener)

    async def _changed(self, key: PromptKey) -> None:
        for listener in self._listeners:
            listener(key)
        try:
            await self._kv.publish(CHANNEL, invalidation(self.origin, key))
        except Exception as exc:  # noqa: BLE001 - committed already; resolvers' TTL catches up
            log.warning("could not announce a change of prompt %s: %s", key.name, exc)

    async def project_access(self, grant: Grant, project: str | None) -> tuple[str, Access]:
        """The project a call names (id or slug; default the key's) and what the caller may
        do there: its key's access in the key's project, else its principal's roles bound
        tenant-wide or in that project. 404 for a project the tenant does not have."""
        if project is None or project == grant.project_id:
            return grant.project_id, grant.access
        found = await self.store.find_project(grant.tenant_id, project)
        if found is None:
            raise NotFoundError(f"no project {project!r}", param="project")
        if found == grant.project_id:
            return found, grant.access
        async with self.engine.connect() as conn:
            other = await load_principal_grant(conn, grant.principal_id, found, grant.key_id)
        return found, other.access if other is not None else Access(())

    # Versions

    async def create_version(
        self, author: Author, key: PromptKey, content: PromptContent, message: str
    ) -> tuple[bool, Version]:
        """A new version with the next number, or (False, the latest) when its content equals
        the latest's. The first version creates the prompt; 400 for templates that do not
        compile or use undeclared variables."""
        canonical = content.canonical()
        check_content(canonical)
        try:
            digest, now = content_hash(canonical), self._clock()
        except orjson.JSONEncodeError as exc:  # integers past 64 bits
            raise InvalidRequestError(f"content cannot be stored: {exc}") from None
        async with self.engine.begin() as conn:
            row = await store.lock(conn, key)
            if row is None:
                row = await store.create(conn, key, content.type, author.name, now)
            if row.latest_version:
                latest = await store.version_of(conn, key, row.latest_version)
                if latest is not None and latest.content_hash == digest:
                    return False, latest
            version = Version(
                key.tenant_id, key.project_id, key.name, row.latest_version + 1, content.type,
                canonical, digest, author.name, now, message, False,
            )  # fmt: skip
            await store.add_version(conn, version)
            after = {"version": version.version, "content_hash": digest, "message": message}
            where = _at(key, version.version)
            await _audit(conn, author, "prompt.version.create", where, None, after)
        await self._changed(key)
        return True, version

    async def set_archived(
        self, author: Author, key: PromptKey, number: int, archived: bool
    ) -> Version:
        """Archive or unarchive a version (a no-op when it already is)."""
        async with self.engine.begin() as conn:
            await self._locked(conn, key)
            version = await _version(conn, key, number)
            if version.archived == archived:
                return version
            await store.set_archived(conn, key, number, archived)
            action = "prompt.version.archive" if archived else "prompt.version.unarchive"
            before, after = {"archived": not archived}, {"archived": archived}
            await _audit(conn, author, action, _at(key, number), before, after)
        await self._changed(key)
        return dataclasses.replace(version, archived=archived)

    # Labels

    async def move_label(
        self,
        author: Author,
        key: PromptKey,
        label: str,
        target: LabelTarget | None,
        protected: bool | None,
        message: str,
        authorize: Authorize,
    ) -> LabelState:
        """Point a label at a version or splits (creating it), and/or change its protection.
        A protected label (or one this call protects, `production` when it is created, or a
        change of protection) needs `prompts:label`. A target must exist and not be archived
        (409). Setting what is already set changes nothing."""
        check_label(label)
        now = self._clock()
        async with self.engine.begin() as conn:
            await self._locked(conn, key)
            existing = await store.label_of(conn, key, label)
            current = existing.protected if existing else label == DEFAULT_LABEL
            keep = current if protected is None else protected
            if (existing is not None and existing.protected) or keep or keep != current:
                authorize(LABEL_PERMISSION)
            if target is None:
                if existing is None:
                    raise InvalidRequestError(
                        f"label {label!r} does not exist: give version or splits", param="version"
                    )
                target = existing.target
            else:
                await _check_target(conn, key, target.check())
            if existing is not None and (existing.target, existing.protected) == (target, keep):
                return existing
            state = LabelState(label, target, keep, now, author.name)
            await store.put_label(conn, key, state, new=existing is None)
            before = _label_audit(existing)
            if existing is None or existing.target != target:
                await store.record_move(
                    conn, key, label, existing.target if existing else None, target,
                    author.name, message, author.request_id, now,
                )  # fmt: skip
                action = "prompt.label.move"
            else:
                action = "prompt.label.protect"
            await _audit(conn, author, action, _on(key, label), before, _label_audit(state))
        await self._changed(key)
        return state

    async def delete_label(
        self, author: Author, key: PromptKey, label: str, authorize: Authorize
    ) -> None:
        """Remove a label (a protected one needs `prompts:label`); its history stays."""
        now = self._clock()
        async with self.engine.begin() as conn:
            await self._locked(conn, key)
            existing = await _label(conn, key, label)
            if existing.protected:
                authorize(LABEL_PERMISSION)
            await store.delete_label(conn, key, label, now)
            await store.record_move(
                conn, key, label, existing.target, None, author.name, "", author.request_id, now
            )
            await _audit(
                conn, author, "prompt.label.delete", _on(key, label), _label_audit(existing), None
            )
        await self._changed(key)

    async def rollback(
        self, author: Author, key: PromptKey, label: str, message: str, authorize: Authorize
    ) -> LabelState:
        """Move a label back to the target it had before its last move (409 when it had
        none, or that is an archived version now)."""
        now = self._clock()
        async with self.engine.begin() as conn:
            await self._locked(conn, key)
            existing = await _label(conn, key, label)
            if existing.protected:
                authorize(LABEL_PERMISSION)
            last = await store.last_move(conn, key, label)
            if last is None or last.from_target is None:
                raise ConflictError(f"label {label!r} has no earlier target to go back to")
            target = LabelTarget.from_json(orjson.loads(last.from_target))
            await _check_target(conn, key, target)
            state = LabelState(label, target, existing.protected, now, author.name)
            await store.put_label(conn, key, state, new=False)
            note = message or f"rollback of {label}"
            await store.record_move(
                conn, key, label, existing.target, target, author.name, note,
                author.request_id, now,
            )  # fmt: skip
            await _audit(
                conn, author, "prompt.label.rollback", _on(key, label),
                _label_audit(existing), _label_audit(state),
            )  # fmt: skip
        await self._changed(key)
        return state

    async def _locked(self, conn: AsyncConnection, key: PromptKey) -> Any:
        row = await store.lock(conn, key)
        if row is None:
            raise _no_prompt(key)
        return row

    # Reads

    async def list_prompts(
        self, tenant_id: str, project_id: str, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        """A page of the project's prompts by name: `{"data", "next"}`."""
        found, after = await self.store.page(tenant_id, project_id, cursor, limit)
        return {"data": found, "next": after}

    async def prompt(self, key: PromptKey) -> dict[str, Any]:
        """The prompt with its labels (404 when there is none)."""
        found = await self.store.prompt(key)
        if found is None:
            raise _no_prompt(key)
        return summary_json(*found)

    async def versions(self, key: PromptKey, include_archived: bool) -> list[Version]:
        """The prompt's versions, newest first (404 when there is no such prompt)."""
        await self.prompt(key)
        return await self.store.versions(key, include_archived)

    async def version(self, key: PromptKey, number: int) -> Version:
        """One version (404 naming it otherwise)."""
        async with self.engine.connect() as conn:
            return await _version(conn, key, number)

    async def history(
        self, key: PromptKey, label: str, cursor: int | None, limit: int
    ) -> dict[str, Any]:
        """A page of the label's moves, newest first: `{"data", "next"}`."""
        await self.prompt(key)
        found, before = await self.store.history(key, check_label(label), cursor, limit)
        return {"data": found, "next": str(before) if before is not None else None}

    async def diff(self, key: PromptKey, start: str | None, end: str | None) -> dict[str, Any]:
        """The difference between two versions named by number or label (default: the latest
        and the one before it)."""
        async with self.engine.connect() as conn:
            row = await store.prompt_row(conn, key)
            if row is None:
                raise _no_prompt(key)
            to = await _pick(conn, key, end, "to", row.latest_version)
            older = await _pick(conn, key, start, "from", max(1, to - 1))
            a, b = await _version(conn, key, older), await _version(conn, key, to)
        return {
            "from": a.version,
            "to": b.version,
            "unified": unified(
                a.content, b.content, f"{key.name}@{start or older}", f"{key.name}@{end or to}"
            ),
            "changes": json_changes(a.content, b.content),
        }


def _no_prompt(key: PromptKey) -> NotFoundError:
    return NotFoundError(f"no prompt {key.name!r} in project {key.project_id}", param="name")


def _at(key: PromptKey, number: int) -> str:
    return f"{key.resource}/versions/{number}"


def _on(key: PromptKey, label: str) -> str:
    return f"{key.resource}/labels/{label}"


def _label_audit(state: LabelState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"target": state.target.to_json(), "protected": state.protected}


async def _version(conn: AsyncConnection, key: PromptKey, number: int) -> Version:
    found = await store.version_of(conn, key, number)
    if found is None:
        raise NotFoundError(f"prompt {key.name!r} has no version {number}", param="version")
    return found


async def _label(conn: AsyncConnection, key: PromptKey, label: str) -> LabelState:
    found = await store.label_of(conn, key, check_label(label))
    if found is None:
        raise NotFoundError(f"prompt {key.name!r} has no label {label!r}", param="label")
    return found


async def _check_target(conn: AsyncConnection, key: PromptKey, target: LabelTarget) -> None:
    """404 for a version that does not exist, 409 for an archived one."""
    wanted = target.versions()
    found = await store.archived_among(conn, key, wanted)
    for i, number in enumerate(wanted):
        param = "version" if target.splits is None else f"splits.{i}.version"
        if number not in found:
            raise NotFoundError(f"prompt {key.name!r} has no version {number}", param=param)
        if found[number]:
            raise ConflictError(
                f"version {number} of {key.name!r} is archived: unarchive it to point a label "
                "at it",
                param=param,
            )


async def _pick(
    conn: AsyncConnection, key: PromptKey, ref: str | None, param: str, default: int
) -> int:
    """A version named by number or by a label (one pointing at a single version)."""
    if ref is None:
        return default
    if ref.isascii() and ref.isdigit():
        if int(ref) > VERSION_MAX:  # beyond the column: no such version
            raise NotFoundError(f"prompt {key.name!r} has no version {ref}", param=param)
        return int(ref)
    state = await store.label_of(conn, key, check_label(ref, param))
    if state is None:
        raise NotFoundError(f"prompt {key.name!r} has no label {ref!r}", param=param)
    if state.target.version is None:
        raise InvalidRequestError(
            f"label {ref!r} splits traffic between versions "
            f"{', '.join(map(str, state.target.versions()))}: name one version",
            param=param,
        )
    return state.target.version


async def _audit(
    conn: AsyncConnection, author: Author, action: str, resource: str, before: Any, after: Any
) -> None:
    event = AuditEvent(
        author.tenant_id, author.name, action, resource, before, after, author.request_id
    )
    await append(conn, [event])
