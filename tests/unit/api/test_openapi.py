"""The admin API's OpenAPI document: served without a key at `/api/openapi.json`, it lists
every route the API serves (and nothing else), each with a summary; every route but the
document itself refuses a call without a key."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter
from fastapi.routing import APIRoute

import agentdeck.api
from tests.unit.api._deck import Deck


def _defined_routes() -> set[tuple[str, str]]:
    """Every (method, path) of every router in the `agentdeck.api` package."""
    found = set()
    for module_info in pkgutil.iter_modules(agentdeck.api.__path__):
        module = importlib.import_module(f"agentdeck.api.{module_info.name}")
        for router in vars(module).values():
            if not isinstance(router, APIRouter):
                continue
            for route in router.routes:
                assert isinstance(route, APIRoute)
                path = route.path.replace(":path}", "}")
                found |= {(method, path) for method in route.methods}
    return found


async def test_the_document_lists_every_api_route(deck: Deck) -> None:
    response = await deck.client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["servers"] == [{"url": "/api"}]
    assert document["info"]["title"] == "agentdeck admin API"
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    defined = _defined_routes()
    assert documented == defined
    assert len(defined) >= 40
    for path, operations in document["paths"].items():
        assert path.startswith("/v1/")
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path} has no summary"


async def test_every_route_needs_a_key(deck: Deck) -> None:
    document = (await deck.client.get("/api/openapi.json")).json()
    for path, operations in document["paths"].items():
        url = "/api" + path.replace("{", "x").replace("}", "")
        for method in operations:
            response = await deck.client.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["type"] == "authentication_error"


async def test_unknown_api_paths_and_methods_answer_in_the_error_shape(deck: Deck) -> None:
    missing = await deck.client.get("/api/v1/nothing-here", headers=deck.owner)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no route GET /api/v1/nothing-here"
    wrong = await deck.client.patch("/api/v1/users", headers=deck.owner, json={})
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]
    assert (await deck.client.get("/api/docs")).status_code == 404
