"""The exact-match response cache: hits cost nothing, bypass works, streams are not cached."""

from __future__ import annotations

from typing import Any

import pytest

MSG = [{"role": "user", "content": "cache me"}]
PRICED = {"provider": "fake", "model": "counter", "input_price": "1", "output_price": "1"}


@pytest.fixture
async def cached_client(gateway_client: Any) -> Any:
    return await gateway_client(
        fake_models={"counter": {"replies": ["first", "second", "third", "fourth"]}},
        models={
            "cached": {"deployments": [PRICED], "cache": True, "cache_ttl_s": 60},
            "uncached": {"deployments": [{**PRICED, "id": "uncached/0"}]},
        },
    )


async def _ask(client: Any, model: str, **extra: Any) -> Any:
    headers = extra.pop("headers", None)
    return await client.post(
        "/v1/chat/completions", json={"model": model, "messages": MSG, **extra}, headers=headers
    )


def _text(response: Any) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


async def test_second_identical_request_is_a_free_hit(cached_client: Any) -> None:
    miss = await _ask(cached_client, "cached")
    hit = await _ask(cached_client, "cached", user="someone-else", metadata={"x": "y"})
    assert (miss.headers["x-agentdeck-cache"], hit.headers["x-agentdeck-cache"]) == ("miss", "hit")
    assert _text(miss) == _text(hit) == "first"
    assert int(miss.headers["x-agentdeck-cost-micros"]) > 0
    assert hit.headers["x-agentdeck-cost-micros"] == "0"
    assert hit.headers["x-agentdeck-deployment"] == "cache"
    other = await _ask(cached_client, "cached", temperature=0.5)  # another request: a miss
    assert (other.headers["x-agentdeck-cache"], _text(other)) == ("miss", "second")


async def test_bypass_by_header_or_body(cached_client: Any) -> None:
    await _ask(cached_client, "cached")
    by_header = await _ask(cached_client, "cached", headers={"x-agentdeck-cache": "bypass"})
    by_body = await _ask(cached_client, "cached", cache=False)
    assert "x-agentdeck-cache" not in by_header.headers
    assert "x-agentdeck-cache" not in by_body.headers
    assert [_text(by_header), _text(by_body)] == ["second", "third"]
    bad = await _ask(cached_client, "cached", cache="no")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "cache"


async def test_uncached_alias_and_streams_never_use_it(cached_client: Any) -> None:
    first = await _ask(cached_client, "uncached")
    second = await _ask(cached_client, "uncached")
    assert "x-agentdeck-cache" not in first.headers
    assert _text(first) != _text(second)
    stream = await _ask(cached_client, "cached", stream=True)
    assert stream.status_code == 200
    assert "x-agentdeck-cache" not in stream.headers
