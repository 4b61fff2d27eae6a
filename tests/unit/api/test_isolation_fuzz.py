"""Random calls from every role of tenant A: routes from the OpenAPI document, bodies shaped
by its schemas (or not at all), ids of both tenants and random text: never a 5xx, never
anything of tenant B, and B's rows never change. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.api._deck import Deck
from tests.unit.api._isolation import ROLES, World, build, leaks, snapshot

WORDS = ["user", "tenant", "project", "team", "key", "model", "requests", "cost", "minute",
         "owner", "admin", "viewer", "alias", "deployment", "fake-a", "fake-*", "models:use",
         "tenants:manage", "2020-01-01T00:00:00Z", "", "../", "%00", "\x00", "a\x00b",
         "\u202e"]  # fmt: skip
Json = dict[str, Any]


class Fuzz:
    """The two tenants, the API's OpenAPI document, and B's rows before any call."""

    def __init__(
        self, deck: Deck, world: World, document: Json, before: dict[str, list[str]]
    ) -> None:
        self.deck = deck
        self.world = world
        self.prefix = str(document["servers"][0]["url"])
        self.document = document
        self.before = before
        self.routes = sorted((m.upper(), p) for p, ops in document["paths"].items() for m in ops)

    def __repr__(self) -> str:
        return f"Fuzz(tenant A {self.world.a.tenant_id}, tenant B {self.world.b.tenant_id})"


@pytest.fixture
async def fuzz(store_deck: Deck) -> Fuzz:
    world = await build(store_deck)
    document = (await store_deck.client.get("/api/openapi.json")).json()
    before = await snapshot(store_deck, world.b.tenant_id)
    return Fuzz(store_deck, world, document, before)


def _texts(world: World) -> st.SearchStrategy[str]:
    known = [*world.b_ids.values(), *world.a_ids.values(), world.a.tenant_id, "b-secret"]
    return st.one_of(
        st.sampled_from(known + WORDS),
        st.text(max_size=30),
        st.text(min_size=199, max_size=400),
    )


def _junk(world: World) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        _texts(world),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts(world), inner,
                                                                    max_size=4),
        max_leaves=6,
    )  # fmt: skip


def _shaped(schema: Json, document: Json, world: World) -> st.SearchStrategy[Any]:
    """Values of the schema's types (any size or content): past validation, into the code."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _shaped(document["components"]["schemas"][name], document, world)
    if "anyOf" in schema:
        return st.one_of([_shaped(option, document, world) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        values = {name: _shaped(s, document, world) for name, s in properties.items()}
        if not properties:
            return st.dictionaries(_texts(world), st.lists(_texts(world), max_size=3), max_size=3)
        return st.fixed_dictionaries(
            {k: v for k, v in values.items() if k in required},
            optional={k: v for k, v in values.items() if k not in required},
        )
    if kind == "array":
        return st.lists(_shaped(schema.get("items", {}), document, world), max_size=4)
    simple: dict[str, st.SearchStrategy[Any]] = {
        "integer": st.integers(min_value=-(2**64), max_value=2**64),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    return simple.get(str(kind), _texts(world))


def _body(fuzz: Fuzz, method: str, path: str) -> st.SearchStrategy[Any]:
    operation = fuzz.document["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return st.none() | _junk(fuzz.world)
    return _shaped(content["schema"], fuzz.document, fuzz.world) | _junk(fuzz.world)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_calls_never_fail_or_reach_another_tenant(
    fuzz: Fuzz, data: st.DataObject
) -> None:
    world = fuzz.world
    role = data.draw(st.sampled_from(ROLES), label="role")
    method, path = data.draw(st.sampled_from(fuzz.routes), label="route")
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    segment = _texts(world).filter(bool)
    params = {name: quote(data.draw(segment, label=name), safe="") for name in names}
    body = data.draw(_body(fuzz, method, path), label="body")
    query = data.draw(
        st.dictionaries(st.sampled_from(["after", "limit", "action"]),
                        st.integers(-5, 2**64).map(str) | _texts(world), max_size=2),
        label="query",
    )  # fmt: skip
    url = fuzz.prefix + path.format(**params)
    content = json.dumps(body).encode() if body is not None else b""
    headers = {**world.callers[role], "content-type": "application/json"}
    response = await fuzz.deck.client.request(
        method, url, params=query, content=content, headers=headers
    )
    what = f"{method} {url}?{query} {content.decode()}"
    assert response.status_code < 500, (what, response.text)
    media_type = response.headers.get("content-type", "")
    found = leaks(world, what, response.text, media_type, world.a.tenant_id)
    world.sent.append(what)
    assert found == [], (what, response.text[:300])
    assert await snapshot(fuzz.deck, world.b.tenant_id) == fuzz.before, what
