"""The registry over a real store (SQLite, and PostgreSQL when configured): versions numbered
without races and never duplicated, labels with protection, splits, history and rollback,
archiving, diffs, every change audited in its transaction and announced on kv."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from agentdeck.kv import MemoryKV
from agentdeck.prompts.models import LabelTarget, PromptKey, Split
from agentdeck.prompts.service import CHANNEL, PromptRegistry
from tests.unit.prompts.conftest import (
    AUTHOR,
    KEY,
    PROJECT,
    TENANT,
    Permits,
    audit_actions,
    chat,
    text,
)

ANY = Permits("prompts:label")
NONE = Permits()
V1, V2 = LabelTarget(1), LabelTarget(2)


@pytest.fixture
async def announced(kv: MemoryKV) -> AsyncIterator[list[bytes]]:
    """Messages published on the registry's channel."""
    got: list[bytes] = []

    async def follow() -> None:
        async with kv.subscribe(CHANNEL) as messages:
            ready.set()
            async for message in messages:
                got.append(message)

    ready = asyncio.Event()
    task = asyncio.create_task(follow())
    await ready.wait()
    yield got
    task.cancel()


async def two_versions(registry: PromptRegistry) -> None:
    await registry.create_version(AUTHOR, KEY, text("one {{ who }}"), "first")
    await registry.create_version(AUTHOR, KEY, text("two {{ who }}"), "second")


async def test_versions_are_numbered_and_the_same_content_makes_none(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    created, first = await registry.create_version(AUTHOR, KEY, text(), "first")
    assert created is True
    assert (first.version, first.type, first.author, first.message) == (
        1,
        "text",
        "user:ann",
        "first",
    )
    assert first.content["template"] == "Hello {{ who }}"
    again, same = await registry.create_version(AUTHOR, KEY, text(), "again")
    assert (again, same) == (False, first)
    created, second = await registry.create_version(AUTHOR, KEY, chat(("user", "hi")), "chat now")
    assert (created, second.version, second.type) == (True, 2, "chat")
    # Equal to an older version but not to the latest: a new version.
    created, third = await registry.create_version(AUTHOR, KEY, text(), "back")
    assert (created, third.version, third.content_hash) == (True, 3, first.content_hash)
    found = await registry.prompt(KEY)
    assert (found["latest_version"], found["type"], found["labels"]) == (3, "text", {})
    assert [v.version for v in await registry.versions(KEY, True)] == [3, 2, 1]
    at = f"prompt/{PROJECT}/support/triage/versions"
    assert await audit_actions(store) == [
        ("prompt.version.create", f"{at}/1"),
        ("prompt.version.create", f"{at}/2"),
        ("prompt.version.create", f"{at}/3"),
    ]


async def test_concurrent_creators_get_distinct_consecutive_numbers(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    results = await asyncio.gather(
        *(registry.create_version(AUTHOR, KEY, text(f"v{i}"), f"m{i}") for i in range(12))
    )
    numbers = sorted(version.version for _, version in results)
    assert numbers == list(range(1, 13))
    assert all(created for created, _ in results)
    stored = await registry.versions(KEY, True)
    assert sorted((v.version, v.message) for v in stored) == sorted(
        (v.version, v.message) for _, v in results
    )
    assert len(await audit_actions(store)) == 12


async def test_concurrent_creators_of_one_content_store_it_once(registry: PromptRegistry) -> None:
    results = await asyncio.gather(
        *(registry.create_version(AUTHOR, KEY, text("same"), f"m{i}") for i in range(8))
    )
    assert sorted(created for created, _ in results) == [False] * 7 + [True]
    assert {version.version for _, version in results} == {1}
    assert len(await registry.versions(KEY, True)) == 1


async def test_prompts_are_kept_apart_by_tenant_and_project(registry: PromptRegistry) -> None:
    await registry.create_version(AUTHOR, KEY, text("a"), "")
    other_project = dataclasses.replace(KEY, project_id="prj_b")
    other_tenant = PromptKey("ten_b", PROJECT, KEY.name)
    await registry.create_version(AUTHOR, other_project, text("b"), "")
    for key in (other_tenant,):
        with pytest.raises(NotFoundError):
            await registry.prompt(key)
    assert (await registry.version(other_project, 1)).content["template"] == "b"
    assert (await registry.version(KEY, 1)).content["template"] == "a"
    listed = await registry.list_prompts(TENANT, PROJECT, None, 10)
    assert [p["name"] for p in listed["data"]] == [KEY.name]


async def test_labels_move_and_their_history_is_kept(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    await two_versions(registry)
    made = await registry.move_label(AUTHOR, KEY, "staging", V1, None, "try", NONE)
    assert (made.label, made.target, made.protected) == ("staging", V1, False)
    moved = await registry.move_label(AUTHOR, KEY, "staging", V2, None, "go", NONE)
    assert moved.target == V2
    same = await registry.move_label(AUTHOR, KEY, "staging", V2, None, "again", NONE)
    assert same == moved  # nothing changed: no move, no event
    history = await registry.history(KEY, "staging", None, 10)
    assert [(m["from"], m["to"], m["message"]) for m in history["data"]] == [
        ({"version": 1}, {"version": 2}, "go"),
        (None, {"version": 1}, "try"),
    ]
    assert history["next"] is None
    assert [a for a, _ in await audit_actions(store)][-2:] == ["prompt.label.move"] * 2
    assert NONE.asked == []


async def test_history_pages_newest_first(registry: PromptRegistry) -> None:
    await two_versions(registry)
    for i in range(5):
        await registry.move_label(AUTHOR, KEY, "dev", LabelTarget(1 + i % 2), None, f"m{i}", NONE)
    first = await registry.history(KEY, "dev", None, 2)
    assert [m["message"] for m in first["data"]] == ["m4", "m3"]
    second = await registry.history(KEY, "dev", int(first["next"]), 2)
    third = await registry.history(KEY, "dev", int(second["next"]), 2)
    assert [m["message"] for m in second["data"] + third["data"]] == ["m2", "m1", "m0"]
    assert third["next"] is None


async def test_production_is_protected_and_only_label_holders_move_it(
    registry: PromptRegistry,
) -> None:
    await two_versions(registry)
    writer = Permits("prompts:write")
    with pytest.raises(PermissionDeniedError, match="lacks prompts:label"):
        await registry.move_label(AUTHOR, KEY, "production", V1, None, "", writer)
    with pytest.raises(PermissionDeniedError, match="lacks prompts:label"):
        await registry.move_label(AUTHOR, KEY, "production", V1, False, "", writer)
    releaser = Permits("prompts:label")
    made = await registry.move_label(AUTHOR, KEY, "production", V1, None, "", releaser)
    assert made.protected is True
    for attempt in (
        lambda: registry.move_label(AUTHOR, KEY, "production", V2, None, "", writer),
        lambda: registry.move_label(AUTHOR, KEY, "production", None, False, "", writer),
        lambda: registry.delete_label(AUTHOR, KEY, "production", writer),
        lambda: registry.rollback(AUTHOR, KEY, "production", "", writer),
    ):
        with pytest.raises(PermissionDeniedError, match="lacks prompts:label"):
            await attempt()
    assert (await registry.prompt(KEY))["labels"]["production"]["version"] == 1
    # Protecting a label, or unprotecting one, is for label holders too.
    await registry.move_label(AUTHOR, KEY, "staging", V1, None, "", writer)
    with pytest.raises(PermissionDeniedError, match="lacks prompts:label"):
        await registry.move_label(AUTHOR, KEY, "staging", None, True, "", writer)
    unprotected = await registry.move_label(AUTHOR, KEY, "production", None, False, "", releaser)
    assert (unprotected.protected, unprotected.target) == (False, V1)
    moved = await registry.move_label(AUTHOR, KEY, "production", V2, None, "", writer)
    assert (moved.protected, moved.target) == (False, V2)


async def test_a_protection_change_is_audited_but_is_no_move(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    await two_versions(registry)
    await registry.move_label(AUTHOR, KEY, "qa", V1, None, "", ANY)
    protected = await registry.move_label(AUTHOR, KEY, "qa", None, True, "", ANY)
    assert protected.protected is True
    assert len((await registry.history(KEY, "qa", None, 10))["data"]) == 1
    assert (await audit_actions(store))[-1] == (
        "prompt.label.protect",
        f"prompt/{PROJECT}/support/triage/labels/qa",
    )
    with pytest.raises(InvalidRequestError) as caught:
        await registry.move_label(AUTHOR, KEY, "nope", None, True, "", ANY)
    assert caught.value.param == "version"


async def test_label_targets_must_exist_and_not_be_archived(registry: PromptRegistry) -> None:
    await two_versions(registry)
    with pytest.raises(NotFoundError) as caught:
        await registry.move_label(AUTHOR, KEY, "x", LabelTarget(3), None, "", ANY)
    assert (caught.value.param, caught.value.message) == (
        "version",
        "prompt 'support/triage' has no version 3",
    )
    await registry.set_archived(AUTHOR, KEY, 1, True)
    split = LabelTarget(splits=(Split(2, 1), Split(1, 1)))
    with pytest.raises(ConflictError) as conflict:
        await registry.move_label(AUTHOR, KEY, "x", split, None, "", ANY)
    assert conflict.value.param == "splits.1.version"
    with pytest.raises(NotFoundError):
        await registry.move_label(
            AUTHOR, dataclasses.replace(KEY, name="nope"), "x", V1, None, "", ANY
        )


async def test_a_label_on_an_archived_version_keeps_it(registry: PromptRegistry) -> None:
    await two_versions(registry)
    await registry.move_label(AUTHOR, KEY, "production", V1, None, "", ANY)
    archived = await registry.set_archived(AUTHOR, KEY, 1, True)
    assert archived.archived is True
    assert (await registry.prompt(KEY))["labels"]["production"]["version"] == 1
    assert [v.version for v in await registry.versions(KEY, False)] == [2]
    assert [v.version for v in await registry.versions(KEY, True)] == [2, 1]
    assert (await registry.set_archived(AUTHOR, KEY, 1, False)).archived is False


async def test_rollback_goes_back_one_move_and_needs_an_earlier_target(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    await two_versions(registry)
    await registry.move_label(AUTHOR, KEY, "production", V1, None, "", ANY)
    with pytest.raises(ConflictError, match="no earlier target"):
        await registry.rollback(AUTHOR, KEY, "production", "", ANY)
    split = LabelTarget(splits=(Split(1, 9), Split(2, 1)))
    await registry.move_label(AUTHOR, KEY, "production", split, None, "canary", ANY)
    back = await registry.rollback(AUTHOR, KEY, "production", "", ANY)
    assert (back.target, back.protected) == (V1, True)
    again = await registry.rollback(AUTHOR, KEY, "production", "undo", ANY)
    assert again.target == split
    history = (await registry.history(KEY, "production", None, 10))["data"]
    assert [m["message"] for m in history] == ["undo", "rollback of production", "canary", ""]
    assert (await audit_actions(store))[-1][0] == "prompt.label.rollback"
    await registry.set_archived(AUTHOR, KEY, 1, True)
    with pytest.raises(ConflictError, match="archived"):
        await registry.rollback(AUTHOR, KEY, "production", "", ANY)


async def test_a_deleted_label_is_gone_but_its_history_stays(
    registry: PromptRegistry, store: AsyncEngine
) -> None:
    await two_versions(registry)
    await registry.move_label(AUTHOR, KEY, "beta", V2, None, "", NONE)
    await registry.delete_label(AUTHOR, KEY, "beta", NONE)
    assert (await registry.prompt(KEY))["labels"] == {}
    moves = (await registry.history(KEY, "beta", None, 10))["data"]
    assert [(m["from"], m["to"]) for m in moves] == [({"version": 2}, None), (None, {"version": 2})]
    assert (await audit_actions(store))[-1][0] == "prompt.label.delete"
    with pytest.raises(NotFoundError) as caught:
        await registry.delete_label(AUTHOR, KEY, "beta", NONE)
    assert caught.value.param == "label"
    with pytest.raises(NotFoundError):
        await registry.rollback(AUTHOR, KEY, "beta", "", NONE)


async def test_diff_by_number_label_and_default(registry: PromptRegistry) -> None:
    await two_versions(registry)
    await registry.move_label(AUTHOR, KEY, "production", V1, None, "", ANY)
    found = await registry.diff(KEY, "production", None)
    assert (found["from"], found["to"]) == (1, 2)
    assert found["changes"] == [
        {"path": "template", "from": "one {{ who }}", "to": "two {{ who }}"}
    ]
    assert found["unified"].startswith("--- support/triage@production\n+++ support/triage@2\n")
    assert (await registry.diff(KEY, None, None))["changes"] == found["changes"]
    assert (await registry.diff(KEY, "2", "1"))["changes"][0]["from"] == "two {{ who }}"
    await registry.move_label(
        AUTHOR, KEY, "ab", LabelTarget(splits=(Split(1, 1), Split(2, 1))), None, "", ANY
    )
    with pytest.raises(InvalidRequestError, match="name one version") as caught:
        await registry.diff(KEY, "ab", "2")
    assert caught.value.param == "from"
    for ref in ("9", "99999999999", "nope"):
        with pytest.raises(NotFoundError):
            await registry.diff(KEY, ref, "2")


async def test_every_change_is_announced(registry: PromptRegistry, announced: list[bytes]) -> None:
    local: list[PromptKey] = []
    registry.on_change(local.append)
    await two_versions(registry)
    await registry.create_version(AUTHOR, KEY, text("two {{ who }}"), "same")  # nothing new
    await registry.move_label(AUTHOR, KEY, "beta", V1, None, "", NONE)
    await registry.set_archived(AUTHOR, KEY, 2, True)
    await registry.delete_label(AUTHOR, KEY, "beta", NONE)
    await asyncio.sleep(0)
    assert local == [KEY] * 5
    origin = registry.origin
    assert [orjson.loads(m) for m in announced] == [[origin, TENANT, PROJECT, KEY.name]] * 5
