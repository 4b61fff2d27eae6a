"""Alerts of a real server: calls made with the `openai` SDK, some failing upstream, make an
error-rate rule and an availability SLO fire; each firing reaches a webhook receiver on
loopback signed with the channel's secret, after the receiver's first 503 was retried, and is
in the alert history with its delivery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from agentdeck.sdk import verify_webhook as verify
from tests.integration._stack import FAKE_MODELS, Stack
from tests.integration._support import deployment, start_gateway

ASK = [{"role": "user", "content": "hello"}]


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: answers 503 to the first delivery, 200 to the rest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.got.append((dict(self.headers.items()), body))
            first = len(self.server.got) == 1
        self.send_response(503 if first else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _wait_for(predicate: Any, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_rules_and_slos_fire_and_deliver_signed_webhooks(
    stack: Stack, workdir: Path, receiver: Receiver
) -> None:
    config = {
        "tracing": {"enabled": True, "flush_interval_s": 0.05},
        "alerts": {"tick_s": 0.2, "retry_backoff_s": [0.5], "allow_private_urls": True},
        "models": {
            "chat": deployment(stack.upstream, "fake", "1", "2"),
            "chat-down": deployment(stack.upstream, "down", "1", "2"),
        },
        "fake_models": FAKE_MODELS,
    }
    server = start_gateway(workdir, config, name="alerting")
    try:
        server.wait_ready()
        api = f"{server.url}/api/v1"
        channel = httpx.post(
            f"{api}/alerts/channels", json={"name": "ops", "url": receiver.url}, timeout=10
        ).json()
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as sdk:
            for _ in range(4):
                sdk.chat.completions.create(model="chat", messages=ASK)  # type: ignore[arg-type]
                with pytest.raises(openai.APIStatusError):
                    sdk.chat.completions.create(model="chat-down", messages=ASK)  # type: ignore[arg-type]
            # The spans are written in the background: a rule created before all 8 are stored
            # would be evaluated on fewer than its min_requests (no data) and not again for 60 s.
            _wait_for(
                lambda: len(httpx.get(f"{api}/traces", params={"limit": 100}, timeout=10)
                            .json()["data"]) >= 8
            )  # fmt: skip
        rule = httpx.post(
            f"{api}/alerts/rules",
            json={"name": "errors", "metric": "error_rate", "threshold": 0.3, "window_s": 60,
                  "min_requests": 8, "channels": [channel["id"]], "severity": "critical"},
            timeout=10,
        ).json()  # fmt: skip
        slo = httpx.post(
            f"{api}/slos",
            json={"name": "chat availability", "objective": "availability", "target": 0.9,
                  "scope": {"source": "gateway"}, "channels": [channel["id"]],
                  "burn_alerts": [{"severity": "warning", "long_s": 60, "short_s": 10,
                                   "burn_rate": 2}]},
            timeout=10,
        ).json()  # fmt: skip
        # Three arrivals: the first firing refused with 503, then both firings.
        _wait_for(lambda: len(receiver.got) >= 3)
        events = httpx.get(f"{api}/alerts/events", timeout=10).json()["data"]
        details = [httpx.get(f"{api}/alerts/events/{e['id']}", timeout=10).json() for e in events]
    finally:
        assert server.stop() == 0, server.log_text()

    bodies = [orjson.loads(body) for _, body in receiver.got]
    for headers, body in receiver.got:
        assert verify(channel["secret"], headers["X-Agentdeck-Signature"], body) is True
    by_rule = {b["event"]["rule_id"]: b["event"] for b in bodies}
    assert set(by_rule) == {rule["id"], slo["id"]}
    errors = by_rule[rule["id"]]
    assert (errors["state"], errors["severity"], errors["value"]) == ("firing", "critical", 0.5)
    burn = by_rule[slo["id"]]
    # 4 of 8 gateway calls failed: 50 % bad against 10 % allowed, a 5x burn.
    assert (burn["state"], burn["severity"]) == ("firing", "warning")
    assert burn["value"] == pytest.approx(5.0)
    assert sorted(b["attempt"] for b in bodies) == [1, 1, 2]
    assert {e["rule_id"] for e in events} == {rule["id"], slo["id"]}
    deliveries = [d for detail in details for d in detail["deliveries"]]
    assert sorted((d["status"], d["attempts"]) for d in deliveries) == [
        ("delivered", 1), ("delivered", 2),
    ]  # fmt: skip
