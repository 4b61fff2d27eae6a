"""The registry on SQLite and PostgreSQL: specs round-trip, bad specs are 400 naming the field,
changes are audited, tenants and projects see their own tools; Python tools found through the
`agentdeck.tools` entry-point group of an installed package."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError, NotFoundError
from agentdeck.identity.tables import audit_events
from agentdeck.tools.executor import ToolExecutor
from agentdeck.tools.models import (
    HttpImplementation,
    PythonImplementation,
    RetryPolicy,
    ToolCaller,
    ToolSpec,
)
from agentdeck.tools.service import Editor, ToolRegistry
from tests.plugin_package import installed_package
from tests.unit.tools.conftest import TENANT, grant

EDITOR = Editor(TENANT, "user:ann", "req-1")


def spec(name: str = "lookup", **fields: object) -> ToolSpec:
    base = ToolSpec(
        name=name,
        description="looks up",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
        output_schema={"type": "object"},
        implementation=HttpImplementation(
            "GET", "https://api.example/{q}", {"authorization": "Bearer {{credential:k}}"}, "none"
        ),
        tenant_id=TENANT,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def test_specs_round_trip_and_changes_are_audited(store: AsyncEngine) -> None:
    registry = ToolRegistry(store)
    made = spec(risk="high", retry=RetryPolicy(3, 0.5), examples=({"arguments": {"q": "x"}},),
                allowed_keys=("key_1",), owner="team-a", version="2")  # fmt: skip
    assert await registry.put(EDITOR, made) is True
    assert await registry.get(TENANT, "lookup") == made
    assert await registry.put(EDITOR, spec(description="changed")) is False
    assert (await registry.get(TENANT, "lookup")).description == "changed"
    await registry.delete(EDITOR, "lookup")
    with pytest.raises(NotFoundError):
        await registry.get(TENANT, "lookup")
    with pytest.raises(NotFoundError):
        await registry.delete(EDITOR, "lookup")
    async with store.connect() as conn:
        rows = list(await conn.execute(sa.select(audit_events.c.action, audit_events.c.resource)))
    assert rows == [("tool.create", "tool/lookup"), ("tool.update", "tool/lookup"),
                    ("tool.delete", "tool/lookup")]  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "param"),
    [
        (spec(name="has space"), "name"),
        (spec(name="x" * 65), "name"),
        (spec(input_schema={"type": "array"}), "input_schema"),
        (spec(input_schema={"type": "object", "properties": 3}), "input_schema"),
        (spec(output_schema={"type": "nope"}), "output_schema"),
        (spec(examples=({"arguments": {"q": 1}},)), "examples"),
    ],
)
async def test_bad_specs_are_refused_naming_the_field(
    store: AsyncEngine, bad: ToolSpec, param: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await ToolRegistry(store).put(EDITOR, bad)
    assert refused.value.param == param


async def test_a_project_sees_its_own_and_tenant_wide_tools_by_name(store: AsyncEngine) -> None:
    registry = ToolRegistry(store)
    await registry.put(EDITOR, spec("b_mine", project_id="prj_a"))
    await registry.put(EDITOR, spec("a_everyone"))
    await registry.put(EDITOR, spec("c_theirs", project_id="prj_b"))
    await registry.put(Editor("ten_other", "user:x"), spec("d_other", tenant_id="ten_other"))
    first, following = await registry.store.page(TENANT, "prj_a", None, 1)
    assert [s.name for s in first] == ["a_everyone"]
    assert following == "a_everyone"
    rest, end = await registry.store.page(TENANT, "prj_a", following, 10)
    assert [s.name for s in rest] == ["b_mine"]
    assert end is None


@pytest.fixture
def installed_tool(tmp_path: Path) -> Iterator[str]:
    """A package `shoutpkg` whose dist-info registers the tools `shout` and `ashout`."""
    with installed_package(
        tmp_path,
        "shoutpkg",
        """
            from agentdeck.tools.python_tool import ToolFailure

            def shout(arguments):
                if arguments["text"] == "fail":
                    raise ToolFailure("cannot shout that", retriable=True)
                if arguments["text"] == "bug":
                    raise KeyError("oops")
                return {"text": arguments["text"].upper()}

            async def ashout(arguments):
                return {"text": arguments["text"].upper() + "!"}
            """,
        {"agentdeck.tools": {"shout": "shoutpkg:shout", "ashout": "shoutpkg:ashout"}},
    ):
        yield "shout"


@pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)
async def test_python_tools_from_entry_points(installed_tool: str, executor: ToolExecutor) -> None:
    def python(entry: str) -> ToolSpec:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return ToolSpec(entry, "d", schema, None, PythonImplementation(entry), tenant_id=TENANT)

    caller = ToolCaller(grant("developer"))
    assert (await executor.execute(python("shout"), {"text": "hi"}, caller)).result == {
        "text": "HI"
    }
    assert (await executor.execute(python("ashout"), {"text": "hi"}, caller)).result == {
        "text": "HI!"
    }
    failed = (await executor.execute(python("shout"), {"text": "fail"}, caller)).to_json()
    assert failed["error"] == {
        "type": "upstream_error", "message": "cannot shout that", "retriable": True,
    }  # fmt: skip
    bug = (await executor.execute(python("shout"), {"text": "bug"}, caller)).to_json()
    assert bug["error"]["message"] == "the tool raised KeyError: 'oops'"
    missing = (await executor.execute(python("nope"), {"text": "x"}, caller)).to_json()
    assert missing["error"]["type"] == "not_found"
    assert "unknown tool 'nope'" in missing["error"]["message"]
