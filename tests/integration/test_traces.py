"""Spans of a real server: calls made with the `openai` SDK (whole and streamed, in the
client's trace or not) are all stored even when the server is stopped while they are still
queued, and are read back through the query API of a second server on the same store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai

from tests.integration._stack import FAKE_MODELS, Stack
from tests.integration._support import deployment, start_gateway

CLIENT_TRACE, CLIENT_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
ASK = [{"role": "user", "content": "say something traced"}]


def _config(stack: Stack, flush_interval_s: float) -> dict[str, Any]:
    return {
        "tracing": {"enabled": True, "flush_interval_s": flush_interval_s},
        "models": {"chat": deployment(stack.upstream, "fake", "1", "2")},
        "fake_models": FAKE_MODELS,
    }


def _all_spans(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/api/v1/spans", params=params, timeout=10).json()
        found += page["data"]
        cursor = page["next"]
        if cursor is None:
            return found


def test_queued_spans_survive_a_stop_and_read_back(stack: Stack, workdir: Path) -> None:
    # A flush interval far longer than the test: every span is still queued at SIGTERM.
    first = start_gateway(workdir, _config(stack, 60), name="traced")
    sent: dict[str, dict[str, Any]] = {}
    try:
        first.wait_ready()
        with openai.OpenAI(base_url=first.url + "/v1", api_key="k", max_retries=0) as sdk:
            for n in range(12):
                headers = {"x-agentdeck-session-id": f"session-{n % 3}"}
                if n == 0:
                    headers["traceparent"] = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
                if n % 4 == 3:
                    raw = sdk.chat.completions.with_raw_response.create(
                        model="chat", messages=ASK, stream=True, extra_headers=headers
                    )
                    pieces = [c.choices[0].delta.content for c in raw.parse() if c.choices]
                    assert "".join(p or "" for p in pieces)
                else:
                    raw = sdk.chat.completions.with_raw_response.create(
                        model="chat", messages=ASK, user=f"user-{n}", extra_headers=headers
                    )
                    raw.parse()
                sent[raw.headers["x-agentdeck-request-id"]] = {
                    "trace": raw.headers["x-agentdeck-trace-id"],
                    "stream": n % 4 == 3,
                    "session": headers["x-agentdeck-session-id"],
                }
        assert not _all_spans(first.url)  # nothing written yet: all still queued
    finally:
        assert first.stop() == 0, first.log_text()

    second = start_gateway(workdir, _config(stack, 0.2), name="reader")
    try:
        second.wait_ready()
        spans = _all_spans(second.url)
        tree = httpx.get(f"{second.url}/api/v1/traces/{CLIENT_TRACE}", timeout=10).json()
    finally:
        second.stop()

    by_request = {s["attributes"]["agentdeck.request_id"]: s for s in spans}
    assert len(spans) == len(by_request) == 12
    assert set(by_request) == set(sent)
    for request_id, facts in sent.items():
        span = by_request[request_id]
        assert span["trace_id"] == facts["trace"]
        assert span["session_id"] == facts["session"]
        assert span["attributes"]["agentdeck.stream"] is facts["stream"]
        assert span["status"] == "ok"
        assert span["name"] == "chat chat"
        assert span["provider"] == "openai"
        assert span["input_tokens"] > 0
        assert span["output_tokens"] > 0
        assert span["cost_micros"] > 0
    assert tree["span_count"] == 1
    assert tree["spans"][0]["parent_span_id"] == CLIENT_SPAN
    assert len({s["trace_id"] for s in spans}) == 12  # one trace per call without traceparent
