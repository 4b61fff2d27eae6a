"""The SDK's prompt cache against a real HTTP server on loopback: fresh copies from memory, one
background refresh after the TTL while the old copy is served at once, stale copies while the
server is down, the fallback only with nothing cached, 404 never hidden, one fetch per key
under concurrency; the same rules in the async client."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from agentdeck.sdk import AsyncPromptClient, PromptClient, configure_prompts, get_prompt
from agentdeck.sdk.client import AgentdeckAPIError
from agentdeck.sdk.prompts import PromptUnavailableError
from tests.unit.sdk._stub import PromptStub, version

NAME = "support/triage"
TTL_S = 0.3


@pytest.fixture
def stub() -> Iterator[PromptStub]:
    server = PromptStub().start()
    server.versions[NAME] = version(NAME, 1)
    yield server
    server.stop()


@pytest.fixture
def client(stub: PromptStub) -> Iterator[PromptClient]:
    sdk = PromptClient(stub.url, "ad_test", ttl_s=TTL_S, timeout_s=2.0)
    yield sdk
    sdk.close()


def _until(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def test_within_the_ttl_the_copy_comes_from_memory(stub: PromptStub, client: PromptClient) -> None:
    first = client.get_prompt(NAME, sticky="user-1")
    again = client.get_prompt(NAME, sticky="user-1")
    assert (first.version, again.version) == (1, 1)
    assert again is first
    assert stub.count(NAME) == 1
    path, query = stub.requests[0]
    assert path == NAME
    assert query == {"label": "production", "sticky": "user-1"}
    # Another sticky key, another label or a version number is another entry.
    client.get_prompt(NAME, sticky="user-2")
    client.get_prompt(NAME, label="staging")
    client.get_prompt(NAME, version=1, project="prj_1")
    assert stub.count(NAME) == 4
    assert stub.requests[-1][1] == {"version": "1", "project": "prj_1"}


def test_after_the_ttl_the_old_copy_is_served_at_once_and_refreshed_once(
    stub: PromptStub, client: PromptClient
) -> None:
    assert client.get_prompt(NAME).version == 1
    stub.versions[NAME] = version(NAME, 2, "Hi {{ who }}")
    stub.delay_s = 0.5  # a slow refresh: callers must not wait for it
    time.sleep(TTL_S + 0.05)
    served = [_timed(lambda: client.get_prompt(NAME)) for _ in range(20)]
    assert {p.version for p, _ in served} == {1}  # type: ignore[attr-defined]
    assert max(elapsed for _, elapsed in served) < 0.25
    _until(lambda: client.get_prompt(NAME).version == 2)
    assert stub.count(NAME) == 2  # twenty expired reads, one refresh
    rendered = client.get_prompt(NAME).render({"who": "Ada"})
    assert rendered[1] == {"role": "user", "content": "Hi Ada"}


def test_while_the_server_is_down_the_stale_copy_is_served(
    stub: PromptStub, client: PromptClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get_prompt(NAME).version == 1
    stub.stop()
    time.sleep(TTL_S + 0.05)
    with caplog.at_level(logging.WARNING, logger="agentdeck.sdk.prompts"):
        prompt, elapsed = _timed(lambda: client.get_prompt(NAME))
        assert prompt.version == 1  # type: ignore[attr-defined]
        assert elapsed < 0.25
        _until(lambda: "serving the cached copy" in caplog.text)
    assert "unreachable" in caplog.text
    # Still served, refreshed again only after another TTL.
    assert client.get_prompt(NAME).version == 1
    # The server comes back on the same port with a new version: picked up after the TTL.
    revived = PromptStub(stub.server_address[1]).start()
    try:
        revived.versions[NAME] = version(NAME, 3)
        time.sleep(TTL_S + 0.05)
        client.get_prompt(NAME)
        _until(lambda: client.get_prompt(NAME).version == 3)
    finally:
        revived.stop()


def test_a_5xx_answer_counts_as_unavailable_and_keeps_the_copy(
    stub: PromptStub, client: PromptClient
) -> None:
    client.get_prompt(NAME)
    stub.status = 503
    time.sleep(TTL_S + 0.05)
    assert client.get_prompt(NAME).version == 1
    _until(lambda: stub.count(NAME) == 2)
    time.sleep(0.05)
    assert client.get_prompt(NAME).version == 1


def test_with_nothing_cached_the_fallback_stands_in_and_then_nobody_waits(
    stub: PromptStub, client: PromptClient
) -> None:
    stub.stop()
    fallback = {"messages": [{"role": "user", "content": "Triage: {{ ticket }}"}]}
    prompt = client.get_prompt(NAME, fallback=fallback)
    assert prompt.is_fallback
    assert (prompt.version, prompt.type) == (0, "chat")
    assert prompt.render({"ticket": "printer on fire"}) == [
        {"role": "user", "content": "Triage: printer on fire"}
    ]
    text = client.get_prompt("other", fallback="Say {{ x }}")
    assert text.render_text({"x": "hi"}) == "Say hi"
    assert text.render({"x": "hi"}) == [{"role": "user", "content": "Say hi"}]
    # Known to be down: a caller with a fallback gets it without trying again.
    again, elapsed = _timed(lambda: client.get_prompt(NAME, fallback=fallback))
    assert again.is_fallback  # type: ignore[attr-defined]
    assert elapsed < 0.25
    with pytest.raises(PromptUnavailableError) as caught:
        client.get_prompt(NAME)
    assert caught.value.status == 0
    assert "unavailable and not cached" in caught.value.message


def test_an_unknown_prompt_is_raised_even_with_a_fallback(
    stub: PromptStub, client: PromptClient
) -> None:
    with pytest.raises(AgentdeckAPIError) as caught:
        client.get_prompt("nope", fallback="anything")
    assert (caught.value.status, caught.value.code, caught.value.param) == (404, "s404", "name")
    assert caught.value.message == "stub says 404"


def test_a_label_deleted_on_the_server_stops_being_served_after_the_ttl(
    stub: PromptStub, client: PromptClient
) -> None:
    client.get_prompt(NAME)
    del stub.versions[NAME]
    time.sleep(TTL_S + 0.05)
    assert client.get_prompt(NAME).version == 1  # the refresh has not answered yet
    _until(lambda: stub.count(NAME) == 2)
    _until(lambda: not client._cache.entries)  # the 404 dropped the copy
    with pytest.raises(AgentdeckAPIError) as caught:
        client.get_prompt(NAME)
    assert caught.value.status == 404


def test_many_threads_on_a_cold_key_make_one_request(
    stub: PromptStub, client: PromptClient
) -> None:
    stub.delay_s = 0.3
    results: list[int] = []
    start = threading.Barrier(32)

    def read() -> None:
        start.wait()
        results.append(client.get_prompt(NAME).version)

    threads = [threading.Thread(target=read) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 32
    assert stub.count(NAME) == 1


def test_many_threads_on_an_expired_key_start_one_refresh(
    stub: PromptStub, client: PromptClient
) -> None:
    client.get_prompt(NAME)
    stub.versions[NAME] = version(NAME, 2)
    stub.delay_s = 0.3
    time.sleep(TTL_S + 0.05)
    start = threading.Barrier(32)
    served: list[int] = []

    def read() -> None:
        start.wait()
        for _ in range(20):
            served.append(client.get_prompt(NAME).version)

    threads = [threading.Thread(target=read) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(served) == {1}  # all served before the slow refresh answered
    _until(lambda: client.get_prompt(NAME).version == 2)
    assert stub.count(NAME) == 2


def test_the_cache_keeps_at_most_max_entries(stub: PromptStub) -> None:
    with_cap = PromptClient(stub.url, ttl_s=60, max_entries=3)
    try:
        for user in range(5):
            with_cap.get_prompt(NAME, sticky=f"u{user}")
        assert len(with_cap._cache.entries) == 3
        with_cap.get_prompt(NAME, sticky="u4")  # kept: no new request
        assert stub.count(NAME) == 5
        with_cap.get_prompt(NAME, sticky="u0")  # evicted: fetched again
        assert stub.count(NAME) == 6
        with_cap.invalidate(NAME)
        assert not with_cap._cache.entries
    finally:
        with_cap.close()


def test_module_level_get_prompt_uses_the_configured_client(stub: PromptStub) -> None:
    configured = configure_prompts(stub.url, "ad_test", ttl_s=60)
    try:
        assert get_prompt(NAME, label="production").version == 1
        assert get_prompt(NAME).version == 1
        assert stub.count(NAME) == 1
        with pytest.raises(ValueError, match="not both"):
            get_prompt(NAME, label="x", version=2)
    finally:
        configured.close()


async def test_async_client_follows_the_same_rules(stub: PromptStub) -> None:
    client = AsyncPromptClient(stub.url, "ad_test", ttl_s=TTL_S, timeout_s=2.0)
    try:
        stub.delay_s = 0.2
        cold = await asyncio.gather(*(client.get_prompt(NAME) for _ in range(16)))
        assert {p.version for p in cold} == {1}
        assert stub.count(NAME) == 1
        stub.versions[NAME] = version(NAME, 2)
        stub.delay_s = 0.5
        await asyncio.sleep(TTL_S + 0.05)
        started = time.perf_counter()
        warm = await asyncio.gather(*(client.get_prompt(NAME) for _ in range(16)))
        assert time.perf_counter() - started < 0.3
        assert {p.version for p in warm} == {1}
        for _ in range(200):
            if (await client.get_prompt(NAME)).version == 2:
                break
            await asyncio.sleep(0.02)
        assert stub.count(NAME) == 2
        stub.stop()
        await asyncio.sleep(TTL_S + 0.05)
        assert (await client.get_prompt(NAME)).version == 2  # stale while down
        assert (await client.get_prompt("cold", fallback="hi")).is_fallback
        with pytest.raises(PromptUnavailableError):
            await client.get_prompt("cold")
    finally:
        await client.aclose()
