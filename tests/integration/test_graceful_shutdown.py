"""SIGTERM drains the streams in flight, refuses new connections, and exits cleanly."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration._stack import FAKE_MODELS, Stack
from tests.integration._support import deployment, start_gateway

TEN_WORDS = "one two three four five six seven eight nine ten"
DRAIN_TIMEOUT_S = 10


def _consume(url: str, first_chunk: threading.Event, result: dict[str, Any]) -> None:
    body = {
        "model": "chat-drip",
        "messages": [{"role": "user", "content": TEN_WORDS}],
        "stream": True,
    }
    lines: list[str] = []
    try:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=20) as response:
            result["status"] = response.status_code
            for line in response.iter_lines():
                if line:
                    lines.append(line)
                if '"content":"one' in line:
                    first_chunk.set()
    except httpx.HTTPError as exc:
        result["error"] = repr(exc)
    finally:
        result["lines"] = lines
        result["ended"] = time.monotonic()
        first_chunk.set()


def _connection_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_open_stream_then_exits_zero(stack: Stack, workdir: Path) -> None:
    gateway = start_gateway(
        workdir,
        {
            "server": {"drain_timeout_s": DRAIN_TIMEOUT_S},
            "models": {"chat-drip": deployment(stack.upstream, "drip", "0", "0")},
            "fake_models": FAKE_MODELS,
        },
        name="draining-gateway",
    )
    try:
        gateway.wait_ready()
        first_chunk = threading.Event()
        result: dict[str, Any] = {}
        consumer = threading.Thread(target=_consume, args=(gateway.url, first_chunk, result))
        consumer.start()
        assert first_chunk.wait(10), result
        assert "error" not in result, result

        sigterm_at = time.monotonic()
        gateway.popen.send_signal(signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 3
        while not refused and time.monotonic() < deadline:
            refused = _connection_refused(gateway.port)
            if not refused:
                time.sleep(0.02)
        stream_still_running = consumer.is_alive()

        consumer.join(15)
        returncode = gateway.popen.wait(DRAIN_TIMEOUT_S + 5)
        exited_after = time.monotonic() - sigterm_at
    finally:
        gateway.stop()

    assert refused, "the listening socket was still accepting after SIGTERM"
    assert stream_still_running, "the stream ended before new connections were refused"
    assert "error" not in result, result
    assert result["status"] == 200
    data = [line.removeprefix("data: ") for line in result["lines"] if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    events = [json.loads(item) for item in data[:-1]]
    pieces = [e["choices"][0]["delta"].get("content") for e in events if e["choices"]]
    assert "".join(p for p in pieces if p) == TEN_WORDS
    assert len([p for p in pieces if p]) == 10
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert returncode == 0, gateway.log_text()
    assert exited_after < DRAIN_TIMEOUT_S
    # It drained the ~2 s stream rather than cutting it: the exit came after the stream ended.
    assert result["ended"] - sigterm_at <= exited_after
    assert "Traceback" not in gateway.log_text()
