"""The in-process harness of the admission tests: an app with priced fake models behind an
owner key, a provider that records what it is sent, an ASGI driver for a client that leaves
mid-stream, and a kv that answers scripts late."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from agentdeck.app import create_app
from agentdeck.gateway.models import JSON, ChatReply
from agentdeck.gateway.providers.fake import FakeProvider
from agentdeck.gateway.tokens import count_messages
from agentdeck.identity.keys import new_key
from agentdeck.kv import MemoryKV, Script
from agentdeck.kv.base import ScriptArg
from agentdeck.settings import Settings

OWNER_KEY = new_key("test")
AUTH = {"authorization": f"Bearer {OWNER_KEY}"}
PRICES = {"input_price": "2", "output_price": "10"}  # micro-dollars per token: 2 and 10
FAKE_MODELS = {
    "counter": {"replies": ["first answer", "second answer", "third answer"]},
    "wordy": {"reply": "word " * 199 + "word"},
    "down": {"fail_status": 503, "fail_message": "overloaded"},
    "slow": {"latency_ms": 5_000},
    "drip": {"reply": "one two three four five", "chunks": 5, "chunk_delay_ms": 100},
    "resets": {"reply": "one two three four", "chunks": 4, "reset_after_chunks": 2},
}
ALIASES = {"metered": "counter", "other": "counter", "wordy": "wordy", "failing": "down",
           "slow": "slow", "drip": "drip", "resets": "resets", "recorded": "counter"}  # fmt: skip
RECORDED: list[JSON] = []  # bodies the `recording` provider was sent


class RecordingProvider(FakeProvider):
    """The fake provider, keeping a copy of every chat body it is sent."""

    async def chat(self, body: JSON) -> ChatReply:
        """Record, then answer as the fake model."""
        RECORDED.append(dict(body))
        return await super().chat(body)


def models() -> dict[str, Any]:
    """Every alias on its fake model, priced, without retries."""
    found: dict[str, Any] = {}
    for alias, model in ALIASES.items():
        provider = "recording" if alias == "recorded" else "fake"
        deployment = {"provider": provider, "model": model, **PRICES}
        found[alias] = {"deployments": [deployment], "retries": {"attempts": 1}}
    return found


@dataclass
class Deck:
    """One running app and a client speaking to it as the owner."""

    app: Starlette
    http: httpx.AsyncClient
    tenant_id: str
    lifespan: Any
    closed: bool = False

    async def close(self) -> None:
        """Stop the app: its queues (spend ledger, audit) are written."""
        if not self.closed:
            self.closed = True
            await self.http.aclose()
            await self.lifespan.__aexit__(None, None, None)

    async def set_limit(self, **rule: Any) -> None:
        """Create or replace a limit (scope: the tenant unless given)."""
        rule.setdefault("scope_kind", "tenant")
        rule.setdefault("scope_id", self.tenant_id)
        response = await self.http.put("/api/v1/limits", json=rule, headers=AUTH)
        assert response.status_code == 200, response.text

    async def chat(self, model: str, **extra: Any) -> httpx.Response:
        """POST a chat completion with exactly the bytes of `chat_body`."""
        raw = orjson.dumps(chat_body(model, **extra))
        return await self.http.post("/v1/chat/completions", content=raw, headers=AUTH)

    async def budgets(self) -> list[tuple[str, int, int]]:
        """(scope id, spent, reserved) of every budget."""
        rows = (await self.http.get("/api/v1/budgets", headers=AUTH)).json()
        return [(r["scope_id"], r["spent_micros"], r["reserved_micros"]) for r in rows]


MESSAGES = [{"role": "user", "content": "hello"}]
PROMPT = count_messages(MESSAGES)  # tokens of every request's prompt, as the fake model counts


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    """A chat request for `model`."""
    return {"model": model, "messages": MESSAGES, **extra}


def worst_case(model: str, output_cap: int, **extra: Any) -> int:
    """What admission reserves: (body bytes + 64) input tokens, `output_cap` output tokens."""
    raw = orjson.dumps(chat_body(model, **extra))
    return (len(raw) + 64) * 2 + output_cap * 10


async def open_app(settings: Settings) -> Deck:
    """Start an app for `settings` (its lifespan run) and a client for it."""
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    me = (await http.get("/api/v1/me", headers=AUTH)).json()
    return Deck(app, http, me["tenant_id"], lifespan)


async def disconnect_after_first_chunk(app: Starlette, body: dict[str, Any]) -> list[Any]:
    """Drive the ASGI app as a server would for a client that leaves after the first body
    chunk; what was sent (status, then chunks) once the app has returned."""
    raw = orjson.dumps(body)
    sent: list[Any] = []
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])
        elif message.get("body"):
            sent.append(message["body"])
            gone.set()

    auth = AUTH["authorization"].encode()
    headers = [(b"content-type", b"application/json"), (b"authorization", auth)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("t", 80)}  # fmt: skip
    await asyncio.wait_for(app(scope, receive, send), 5)
    return sent


def wait_for_room_in_minute(needed_s: float = 5) -> None:
    """Rate limits count in fixed minutes: do not start a sequence just before one ends."""
    left = 60 - time.time() % 60
    if left < needed_s:
        time.sleep(left + 0.1)


class SlowReplyKV(MemoryKV):
    """The in-process kv with a network's delay between running a script and its answer, as
    with Redis."""

    backend = "slow-reply"

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run at once; answer 50 ms later."""
        result = await super().run(script, keys, args)
        await asyncio.sleep(0.05)
        return result
