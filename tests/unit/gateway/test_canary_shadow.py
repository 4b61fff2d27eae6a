"""Canary deployments take their share of traffic; shadows get copies that are never returned."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.gateway._metrics import metric_value

MSG = [{"role": "user", "content": "hello split"}]


async def test_canary_gets_its_share(gateway_client: Any) -> None:
    client = await gateway_client(
        models={
            "main": {
                "deployments": [{"provider": "fake", "model": "fake"}],
                "canary": {"deployment": {"provider": "fake", "model": "fake"}, "percent": 25},
            }
        }
    )
    served: dict[str, int] = {}
    for _ in range(400):
        response = await client.post(
            "/v1/chat/completions", json={"model": "main", "messages": MSG}
        )
        deployment = response.headers["x-agentdeck-deployment"]
        served[deployment] = served.get(deployment, 0) + 1
    assert set(served) == {"main/0", "main/canary"}
    assert 60 <= served["main/canary"] <= 140  # 25% of 400 is 100; binomial sd is about 9


async def test_shadow_answers_are_recorded_never_returned(gateway_client: Any) -> None:
    client = await gateway_client(
        fake_models={"shadowy": {"reply": "SHADOW ANSWER"}},
        models={
            "main": {
                "deployments": [{"provider": "fake", "model": "fake"}],
                "shadow": {
                    "deployment": {"provider": "fake", "model": "shadowy", "input_price": "1",
                                   "output_price": "1"},
                    "percent": 100,
                },
            }
        },
    )  # fmt: skip
    for stream in (False, True):
        response = await client.post(
            "/v1/chat/completions", json={"model": "main", "messages": MSG, "stream": stream}
        )
        assert "SHADOW" not in response.text
        assert "split" in response.text  # the echo of the main deployment
    shadow = {"deployment": "main/shadow"}
    for _ in range(50):  # shadows run after the answer, off the request path
        metrics = (await client.get("/metrics")).text
        ok = metric_value(metrics, "agentdeck_gateway_shadow_calls_total", **shadow, outcome="ok")
        if ok == 2:
            break
        await asyncio.sleep(0.02)
    assert ok == 2
    assert metric_value(metrics, "agentdeck_gateway_cost_micros_total", **shadow) > 0
    calls = metric_value(
        metrics, "agentdeck_gateway_calls_total", alias="main", **shadow, outcome="ok"
    )
    assert calls == 0  # a shadow is not a call of the alias
