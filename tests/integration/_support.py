"""Starting real agentdeck processes for the integration tests, and reading what they report.

Every process started here writes its stdout and stderr to a log file and is registered in
`LIVE`, so a failing test can show the logs of every server that was running at the time.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from agentdeck.gateway.tokens import count_messages, count_text

AGENTDECK = [sys.executable, "-m", "agentdeck"]
STARTUP_TIMEOUT_S = 20.0
LIVE: list[ServerProcess] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The test's environment without AGENTDECK_* settings, COLUMNS or LINES (hermetic runs)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AGENTDECK_") and name not in ("COLUMNS", "LINES")
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write `config` as YAML to `path`."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `agentdeck ARGS` to completion and capture its output."""
    return subprocess.run(
        [*AGENTDECK, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class ServerProcess:
    """One running `agentdeck serve` or `agentdeck fake-upstream` process."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path
    ready_path: str
    _log_file: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Poll `ready_path` until it answers 200; fail with the log on exit or timeout."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode} during start-up:\n"
                    + self.log_text()
                )
            try:
                response = httpx.get(self.url + self.ready_path, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready after {timeout}s (last: {last}):\n" + self.log_text()
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; always reaps the process."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self in LIVE:
            LIVE.remove(self)
        return self.popen.returncode


def spawn(name: str, args: list[str], workdir: Path, port: int, ready_path: str) -> ServerProcess:
    """Start `agentdeck ARGS` in `workdir`, its output going to `<workdir>/<name>.log`."""
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("wb")
    popen = subprocess.Popen(
        [*AGENTDECK, *args, "--port", str(port)],
        cwd=workdir,
        env=clean_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    proc = ServerProcess(name, popen, port, log_path, ready_path, log_file)
    LIVE.append(proc)
    return proc


def start_fake_upstream(workdir: Path, config: dict[str, Any]) -> ServerProcess:
    """`agentdeck fake-upstream` serving `config`'s fake models (not yet waited for)."""
    path = write_config(workdir / "upstream.yaml", config)
    return spawn(
        "fake-upstream",
        ["fake-upstream", "--config", str(path)],
        workdir,
        free_port(),
        "/v1/models",
    )


def start_gateway(workdir: Path, config: dict[str, Any], name: str = "gateway") -> ServerProcess:
    """`agentdeck serve` with `config` in `workdir` (not yet waited for)."""
    config = {"log_level": "warning", **config}
    config.setdefault("database", {"url": f"sqlite+aiosqlite:///{workdir / 'x.db'}"})
    path = write_config(workdir / f"{name}.yaml", config)
    return spawn(name, ["serve", "--config", str(path)], workdir, free_port(), "/readyz")


def deployment(
    upstream: ServerProcess, model: str, input_price: str, output_price: str, **extra: Any
) -> dict[str, Any]:
    """One openai-provider deployment pointing at the fake upstream."""
    return {
        "deployments": [
            {
                "provider": "openai",
                "model": model,
                "base_url": f"{upstream.url}/v1",
                "input_price": input_price,
                "output_price": output_price,
                **extra,
            }
        ]
    }


def expected_cost_micros(
    input_tokens: int, output_tokens: int, input_price: str, output_price: str
) -> int:
    """Cost in micro-dollars, rounded up once: prices are USD per million tokens."""
    usd = (input_tokens * Decimal(input_price) + output_tokens * Decimal(output_price)) / 10**6
    return math.ceil(usd * 10**6)


def chat_usage(messages: list[dict[str, Any]], answer: str) -> tuple[int, int]:
    """(prompt, completion) tokens the fake engine reports for an answer of `answer`."""
    return count_messages(messages), count_text(answer)


class Metrics:
    """One scrape of /metrics, indexed by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = sample.value

    @classmethod
    def scrape(cls, base_url: str) -> Metrics:
        """GET /metrics from the server at `base_url`."""
        response = httpx.get(base_url + "/metrics", timeout=5.0)
        response.raise_for_status()
        return cls(response.text)

    def value(self, name: str, **labels: str) -> float:
        """The sample `name{labels}`, 0 when it has not been recorded yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def delta(self, before: Metrics, name: str, **labels: str) -> float:
        """How much `name{labels}` moved since `before`."""
        return self.value(name, **labels) - before.value(name, **labels)

    def spend_since(self, before: Metrics, deployment: str) -> tuple[float, float, float]:
        """(input tokens, output tokens, cost in micros) counted for `deployment` since `before`."""
        return (
            self.delta(
                before, "agentdeck_gateway_tokens_total", deployment=deployment, direction="input"
            ),
            self.delta(
                before, "agentdeck_gateway_tokens_total", deployment=deployment, direction="output"
            ),
            self.delta(before, "agentdeck_gateway_cost_micros_total", deployment=deployment),
        )

    def calls_since(self, before: Metrics, alias: str, deployment: str) -> dict[str, float]:
        """How many calls of `alias` on `deployment` ended in each outcome since `before`."""
        return {
            outcome: self.delta(
                before,
                "agentdeck_gateway_calls_total",
                alias=alias,
                deployment=deployment,
                outcome=outcome,
            )
            for outcome in ("ok", "error", "client_closed")
        }

    def requests_since(self, before: Metrics, route: str, method: str, status: int) -> float:
        """How many HTTP requests on `route` were answered with `status` since `before`."""
        return self.delta(
            before, "agentdeck_http_requests_total", route=route, method=method, status=str(status)
        )
