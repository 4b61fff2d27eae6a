"""The SDK's `get_prompt` against a real server: a moved label is served after the TTL (the old
version until then, without waiting), a split label gives each sticky key the version the
server gives it, local rendering equals the server's `/render`, a deleted label stops being
served, and with the server stopped the cached copy (or the fallback) keeps the app going."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentdeck import sdk
from agentdeck.identity.keys import new_key
from tests.conftest import owner_bootstrap
from tests.integration._support import ServerProcess, start_gateway

OWNER_KEY = new_key("test")
KEY_ENV = "SDK_PROMPTS_TEST_OWNER_KEY"  # not AGENTDECK_*: the server's environment keeps it
TTL_S = 0.5
GREETING = {
    "type": "chat",
    "messages": [
        {"role": "system", "content": "Speak {{ tone }}."},
        {
            "role": "user",
            "content": "Greet {{ who }}{% if times is defined %} {{ times }} times{% endif %}.",
        },
    ],
    "variables": {
        "type": "object",
        "properties": {
            "who": {"type": "string"},
            "tone": {"type": "string", "default": "warmly"},
            "times": {"type": "integer"},
        },
        "required": ["who"],
    },
    "params": {"temperature": 0.3},
    "model": "chat",
}


@pytest.fixture(scope="module")
def key_env() -> Iterator[None]:
    """The owner key in the environment the servers inherit."""
    os.environ[KEY_ENV] = OWNER_KEY
    yield
    del os.environ[KEY_ENV]


def _start(workdir: Path, name: str) -> ServerProcess:
    proc = start_gateway(workdir, {"identity": owner_bootstrap(KEY_ENV)}, name=name)
    proc.wait_ready()
    return proc


@pytest.fixture(scope="module")
def server(key_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with identity on, for the module."""
    proc = _start(tmp_path_factory.mktemp("prompts-sdk"), "prompts-sdk")
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()


def _call(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method,
        f"{server.url}/api/v1{path}",
        json=body,
        headers={"authorization": f"Bearer {OWNER_KEY}"},
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _version(server: ServerProcess, name: str, content: dict[str, Any]) -> int:
    made = _call(server, "POST", f"/prompts/{name}/versions", {**content, "message": "test"})
    return int(made["version"]["version"])


def _label(server: ServerProcess, name: str, label: str, **target: Any) -> None:
    _call(server, "PUT", f"/prompts/{name}/labels/{label}", target)


def _until(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[sdk.PromptClient]:
    prompts = sdk.PromptClient(server.url, OWNER_KEY, ttl_s=TTL_S, timeout_s=5.0)
    yield prompts
    prompts.close()


def test_a_moved_label_is_served_after_the_ttl_and_renders_as_the_server_does(
    server: ServerProcess, client: sdk.PromptClient
) -> None:
    name = "sdk/greet"
    assert _version(server, name, GREETING) == 1
    second = {**GREETING, "params": {"temperature": 0.9}}
    assert _version(server, name, second) == 2
    _label(server, name, "production", version=1)

    first = client.get_prompt(name)
    assert (first.name, first.version, first.type, first.label) == (name, 1, "chat", "production")
    assert first.params == {"temperature": 0.3}
    assert first.model == "chat"
    for variables in ({"who": "Ada"}, {"who": "Bo", "tone": "dryly", "times": 3}):
        served = _call(server, "POST", f"/prompts/{name}/render", {"variables": variables})
        assert first.render(variables) == served["messages"]
    for wrong in ({}, {"who": "Ada", "mood": "x"}, {"who": 3}, {"who": "Ada", "times": "x"}):
        refused = httpx.post(
            f"{server.url}/api/v1/prompts/{name}/render",
            json={"variables": wrong},
            headers={"authorization": f"Bearer {OWNER_KEY}"},
            timeout=10,
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        with pytest.raises(sdk.PromptRenderError) as local:
            first.render(wrong)
        assert (str(local.value), local.value.param) == (error["message"], error["param"])

    client.invalidate(name)
    assert client.get_prompt(name).version == 1
    _label(server, name, "production", version=2)
    assert client.get_prompt(name).version == 1  # within the TTL: from memory
    time.sleep(TTL_S + 0.05)
    started = time.perf_counter()
    assert client.get_prompt(name).version == 1  # expired: served at once, refreshed behind
    assert time.perf_counter() - started < 0.25
    _until(lambda: client.get_prompt(name).version == 2)
    assert client.get_prompt(name).params == {"temperature": 0.9}
    assert client.get_prompt(name, version=1).version == 1


def test_a_split_label_gives_each_sticky_key_the_servers_choice(
    server: ServerProcess, client: sdk.PromptClient
) -> None:
    name = "sdk/split"
    _version(server, name, {"type": "text", "template": "A"})
    _version(server, name, {"type": "text", "template": "B"})
    _label(
        server, name, "canary", splits=[{"version": 1, "weight": 1}, {"version": 2, "weight": 1}]
    )
    chosen = {}
    for user in range(24):
        sticky = f"user-{user}"
        prompt = client.get_prompt(name, label="canary", sticky=sticky)
        resolved = _call(server, "GET", f"/prompts/{name}/resolve?label=canary&sticky={sticky}")
        assert prompt.version == resolved["version"]
        assert client.get_prompt(name, label="canary", sticky=sticky) is prompt
        chosen[sticky] = prompt.render_text()
    assert set(chosen.values()) == {"A", "B"}


def test_a_deleted_label_stops_being_served_after_the_ttl(
    server: ServerProcess, client: sdk.PromptClient
) -> None:
    name = "sdk/temporary"
    _version(server, name, {"type": "text", "template": "soon gone"})
    _label(server, name, "staging", version=1)
    assert client.get_prompt(name, label="staging", fallback="kept?").version == 1
    _call(server, "DELETE", f"/prompts/{name}/labels/staging")
    time.sleep(TTL_S + 0.05)
    assert client.get_prompt(name, label="staging").version == 1  # the refresh runs behind

    # The refresh meets the 404 and drops the copy; then the 404 reaches the caller.
    _until(lambda: not client._cache.entries)
    with pytest.raises(sdk.AgentdeckAPIError) as caught:
        client.get_prompt(name, label="staging", fallback="kept?")
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_with_the_server_stopped_the_cached_copy_or_the_fallback_is_served(
    key_env: None, tmp_path: Path
) -> None:
    own = _start(tmp_path, "prompts-sdk-stopped")
    prompts = sdk.PromptClient(own.url, OWNER_KEY, ttl_s=TTL_S, timeout_s=2.0)
    try:
        _version(own, "sdk/greet", GREETING)
        _label(own, "sdk/greet", "production", version=1)
        warm = prompts.get_prompt("sdk/greet")
        assert warm.version == 1
        assert own.stop() == 0, own.log_text()
        time.sleep(TTL_S + 0.05)
        for _ in range(3):
            started = time.perf_counter()
            stale = prompts.get_prompt("sdk/greet")
            assert time.perf_counter() - started < 0.25
            assert stale is warm
            time.sleep(TTL_S / 2)
        assert stale.render({"who": "Ada"})[1]["content"] == "Greet Ada."
        fallback = prompts.get_prompt("sdk/other", fallback="Hello {{ who }}")
        assert (fallback.version, fallback.is_fallback) == (0, True)
        assert fallback.render_text({"who": "Ada"}) == "Hello Ada"
        with pytest.raises(sdk.PromptUnavailableError) as caught:
            prompts.get_prompt("sdk/other")
        assert caught.value.status == 0
        assert "unreachable" in caught.value.message
    finally:
        prompts.close()
        own.stop()


async def test_the_async_client_against_the_server(server: ServerProcess) -> None:
    name = "sdk/async"
    _version(server, name, {"type": "text", "template": "one {{ n }}"})
    _label(server, name, "production", version=1)
    prompts = sdk.AsyncPromptClient(server.url, OWNER_KEY, ttl_s=TTL_S)
    try:
        first = await prompts.get_prompt(name)
        assert first.render_text({"n": 1}) == "one 1"
        _version(server, name, {"type": "text", "template": "two {{ n }}"})
        _label(server, name, "production", version=2)
        await asyncio.sleep(TTL_S + 0.05)
        assert (await prompts.get_prompt(name)).version == 1
        for _ in range(250):
            if (await prompts.get_prompt(name)).version == 2:
                break
            await asyncio.sleep(0.02)
        assert (await prompts.get_prompt(name)).render_text({"n": 2}) == "two 2"
    finally:
        await prompts.aclose()
