"""The stacks of the resilience and wire-format tests: a scripted upstream that counts and
records requests in the OpenAI, Anthropic and Gemini formats, the fake upstream, and gateways
configured for retries, fallbacks, breakers and routing, or for every provider's wire format.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration._http_stub import BackgroundServer, JSONHandler
from tests.integration._support import ServerProcess, start_fake_upstream, start_gateway

JSON = dict[str, Any]
SCRIPTED_REPLY = "scripted answer"
# Usage the scripted upstream reports, per wire format (cache reads and writes included).
OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13,
                "prompt_tokens_details": {"cached_tokens": 3}}  # fmt: skip
ANTHROPIC_USAGE = {"input_tokens": 7, "output_tokens": 2, "cache_read_input_tokens": 3,
                   "cache_creation_input_tokens": 1}  # fmt: skip
GEMINI_USAGE = {"promptTokenCount": 11, "candidatesTokenCount": 2, "thoughtsTokenCount": 5,
                "cachedContentTokenCount": 4, "totalTokenCount": 18}  # fmt: skip
_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")


@dataclass
class Hit:
    """One request the scripted upstream received."""

    model: str
    path: str  # with the query string
    headers: dict[str, str]
    body: JSON


def _answer(wire: str, model: str) -> JSON:
    if wire == "anthropic":
        return {"id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": SCRIPTED_REPLY}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": ANTHROPIC_USAGE}  # fmt: skip
    if wire == "gemini":
        parts = [{"text": "pondering the question", "thought": True}, {"text": SCRIPTED_REPLY}]
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}
        return {"candidates": [candidate], "usageMetadata": GEMINI_USAGE, "modelVersion": model,
                "responseId": "scripted"}  # fmt: skip
    message = {"role": "assistant", "content": SCRIPTED_REPLY}
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": OPENAI_USAGE}  # fmt: skip


class ScriptedUpstream(BackgroundServer):
    """Whole answers in three wire formats over real HTTP, counting requests per model.

    `fail[model] = status` makes that model answer the status with an OpenAI-shaped error body
    (every provider reads `error.message` from it); otherwise it answers `SCRIPTED_REPLY`.
    """

    def __init__(self) -> None:
        self.fail: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.read_json()
                self.send_json(*upstream.handle(self.path, dict(self.headers.items()), body))

        super().__init__(Handler)

    def handle(self, path: str, headers: dict[str, str], body: JSON) -> tuple[int, JSON]:
        """Count and record one request; the status and body to answer it with."""
        route = path.split("?", maxsplit=1)[0]
        gemini = _GEMINI_PATH.match(route)
        wire = "anthropic" if route == "/v1/messages" else "gemini" if gemini else "openai"
        if gemini:
            model = gemini.group(1)
        elif route.startswith("/openai/deployments/"):
            model = route.removeprefix("/openai/deployments/").split("/", 1)[0]
        else:
            model = str(body.get("model"))
        with self._lock:
            self.counts[model] += 1
            self.hits.append(Hit(model, path, {k.lower(): v for k, v in headers.items()}, body))
        status = self.fail.get(model)
        if status is not None:
            error = {"message": f"scripted {status}", "type": "upstream_error", "code": None}
            return status, {"error": error}
        return 200, _answer(wire, model)

    def last(self, model: str) -> Hit:
        """The latest request for `model`."""
        return next(hit for hit in reversed(self.hits) if hit.model == model)

    @property
    def url(self) -> str:
        """Base URL, without any path."""
        return f"http://127.0.0.1:{self.port}"


def dep(base_url: str, model: str, provider: str = "openai", **extra: Any) -> JSON:
    """One deployment of `model` at `base_url`."""
    return {"provider": provider, "model": model, "base_url": base_url, **extra}


def alias(*deployments: JSON, **settings: Any) -> JSON:
    """A model alias over `deployments`."""
    return {"deployments": list(deployments), **settings}


@dataclass
class Servers:
    """Processes and scripted upstreams started together, stopped together."""

    procs: list[ServerProcess] = field(default_factory=list)
    scripted: list[ScriptedUpstream] = field(default_factory=list)

    def upstream(self, workdir: Path, fakes: JSON) -> ServerProcess:
        """Spawn `agentdeck fake-upstream` serving `fakes` (not yet waited for)."""
        workdir.mkdir(parents=True, exist_ok=True)
        config = {"log_level": "warning", "fake_models": fakes}
        self.procs.append(start_fake_upstream(workdir, config))
        return self.procs[-1]

    def gateway(self, workdir: Path, config: JSON, name: str) -> ServerProcess:
        """Spawn `agentdeck serve` with `config` in its own directory (not yet waited for)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.procs.append(start_gateway(workdir, config, name=name))
        return self.procs[-1]

    def scripted_upstream(self) -> ScriptedUpstream:
        """A running scripted upstream."""
        self.scripted.append(ScriptedUpstream().start())
        return self.scripted[-1]

    def ready(self) -> None:
        """Wait until every process answers its readiness path."""
        for proc in self.procs:
            proc.wait_ready()


@contextmanager
def servers() -> Iterator[Servers]:
    """A `Servers` that is always stopped, gateways first."""
    started = Servers()
    try:
        yield started
    finally:
        for proc in reversed(started.procs):
            proc.stop()
        for upstream in started.scripted:
            upstream.stop()


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> float:
    """Poll `check()` until true; the seconds it took. Fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


RESILIENCE_FAKES: JSON = {
    "rl-once": {"fail_status": 429, "fail_times": 1, "retry_after_s": 2},
    "rl-long": {"fail_status": 429, "retry_after_s": 30, "fail_message": "slow down"},
    "down-once": {"fail_status": 503, "fail_times": 1},
    "down": {"fail_status": 503, "fail_message": "model overloaded"},
    "sleepy": {"latency_ms": 3000},
    "flaky": {"reset_after_chunks": 3, "chunks": 4, "reply": "alpha beta gamma delta"},
    "drip": {"chunks": 5, "chunk_delay_ms": 200, "reply": "one two three four five"},
    "tiny": {"context_window": 20},
    "lag50": {"latency_ms": 50},
    "busy": {"latency_ms": 600},
}
RESILIENCE_PRICES = ("1.5", "6")  # USD per 1M input, output tokens


def resilience_models(v1: str) -> JSON:
    """Aliases over the fake upstream at `v1` for retries, fallbacks, timeouts and routing."""

    def one(model: str, **extra: Any) -> JSON:
        prices = dict(zip(("input_price", "output_price"), RESILIENCE_PRICES, strict=True))
        return dep(v1, model, **prices, **extra)

    cheapest = [("3", "15"), ("1", "4"), ("0.1", "0.4"), ("0.5", "2")]
    ftt = {"first_token_timeout_s": 0.5}
    return {
        "rl-once": alias(one("rl-once")),
        "rl-deadline": alias(one("rl-long"), deadline_s=1),
        "down-once": alias(one("down-once")),
        "A": alias(one("down"), retries={"attempts": 2}, fallbacks={"upstream_down": ["B"]},
                   deadline_s=5),
        "B": alias(one("fake")),
        "ftt": alias(one("sleepy", **ftt)),
        "ftt-pair": alias(one("sleepy", **ftt), one("fake")),
        "flaky": alias(one("flaky"), retries={"attempts": 3}),
        "drip": alias(one("drip")),
        "small": alias(one("tiny"), fallbacks={"context_window_exceeded": ["large"]}),
        "large": alias(one("fake")),
        "weighted": alias(*(dep(v1, "fake", weight=w) for w in (1, 1, 1, 7)), strategy="weighted"),
        "prio": alias(*(one("fake") for _ in range(4))),
        "cheap": alias(*(dep(v1, "fake", input_price=i, output_price=o) for i, o in cheapest),
                       strategy="cost"),
        "spread": alias(*(one("busy") for _ in range(4)), strategy="least_busy"),
        "fastest": alias(one("lag50"), one("fake"), strategy="latency"),
    }  # fmt: skip


def breaker_config(v1: str) -> JSON:
    """A gateway whose breakers open after 3 failures for 1 s, over the scripted upstream."""
    once = {"attempts": 1}
    models = {name: alias(dep(v1, f"{name}-model"), retries=once) for name in ("brk", "brk429")}
    return {"gateway": {"breaker": {"consecutive_failures": 3, "open_s": 1}}, "models": models}


@dataclass
class ResilienceStack:
    """The fake upstream and a gateway over it; a scripted upstream and a breaker gateway."""

    gateway: ServerProcess
    breakers: ServerProcess
    scripted: ScriptedUpstream


@contextmanager
def resilience_stack(root: Path) -> Iterator[ResilienceStack]:
    """Start both gateways and both upstreams at once; stop them all afterwards."""
    with servers() as started:
        scripted = started.scripted_upstream()
        upstream = started.upstream(root / "upstream", RESILIENCE_FAKES)
        main = started.gateway(root / "main", {"models": resilience_models(upstream.url + "/v1")},
                               "res-gw")  # fmt: skip
        breakers = started.gateway(root / "brk", breaker_config(scripted.url + "/v1"), "brk-gw")
        started.ready()
        yield ResilienceStack(main, breakers, scripted)


TOOL_CALLS = [("get_weather", {"city": "Paris", "unit": "celsius"}),
              ("get_time", {"tz": "Europe/Paris"})]  # fmt: skip
# (client SDK, provider) pairs whose tool calls are tested, whole and streamed.
TOOL_USES = [("anthropic", p) for p in ("openai", "anthropic", "gemini")] + [
    ("openai", p) for p in ("anthropic", "gemini", "azure")
]
SECRET_ENV, SECRET = "WIRE_TEST_KEY", "wire-secret"
WIRE_PRICES = {"input_price": "3", "output_price": "15", "cached_input_price": "0.3",
               "cache_write_price": "3.75"}  # fmt: skip


def tools_alias(client: str, mode: str, provider: str) -> str:
    """The alias (and fake model: tool-call ids start at 0 for each) of one tool-call test."""
    return f"tools-{client}-{mode}-{provider}"


def _base(url: str, provider: str) -> str:
    return {"openai": url + "/v1", "gemini": url + "/v1beta"}.get(provider, url)


def wire_models(fake_url: str, scripted_url: str) -> JSON:
    """`echo-P` (fake upstream) and `rec-P` (scripted upstream, with a key) for each provider P,
    and one tool-calling alias per tool-call test."""
    models: JSON = {}
    for provider in ("openai", "anthropic", "gemini", "azure"):
        models[f"echo-{provider}"] = alias(dep(_base(fake_url, provider), "fake", provider))
        recorded = dep(_base(scripted_url, provider), f"rec-{provider}", provider,
                       api_key_env=SECRET_ENV, **WIRE_PRICES)  # fmt: skip
        models[f"rec-{provider}"] = alias(recorded)
    for client, provider in TOOL_USES:
        for mode in ("whole", "stream"):
            name = tools_alias(client, mode, provider)
            models[name] = alias(dep(_base(fake_url, provider), name, provider))
    return models


@dataclass
class WireStack:
    """A gateway with every provider over the fake and the scripted upstreams."""

    gateway: ServerProcess
    scripted: ScriptedUpstream
    model_names: list[str]


@contextmanager
def wire_stack(root: Path) -> Iterator[WireStack]:
    """Start the upstreams and the gateway (which inherits the credential variable)."""
    calls = {"tool_calls": [{"name": n, "arguments": a} for n, a in TOOL_CALLS]}
    fakes = {tools_alias(c, m, p): calls for c, p in TOOL_USES for m in ("whole", "stream")}
    with servers() as started:
        scripted = started.scripted_upstream()
        upstream = started.upstream(root / "upstream", fakes)
        models = wire_models(upstream.url, scripted.url)
        os.environ[SECRET_ENV] = SECRET
        try:
            proc = started.gateway(root / "gateway", {"models": models}, "wire-gw")
        finally:
            del os.environ[SECRET_ENV]
        started.ready()
        yield WireStack(proc, scripted, sorted([*models, "fake"]))
