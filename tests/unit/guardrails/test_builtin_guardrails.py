"""The canary, JSON schema and webhook guardrails, and the output sanitizers. The webhook
guardrail is called over a real loopback HTTP server that answers well, slowly, wrongly or
not at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from agentdeck.guardrails.builtin import JsonSchemaGuardrail
from agentdeck.guardrails.canary import CanaryGuardrail, canary_token, place_canary
from agentdeck.guardrails.models import CheckContext, Redaction
from agentdeck.guardrails.outcome import ActiveGuardrail
from agentdeck.guardrails.sanitize import escape_html, sanitizer, strip_control
from agentdeck.guardrails.webhook import WebhookGuardrail
from agentdeck.settings_guardrails import Sanitize

KEY = b"k" * 32


def test_canary_tokens_differ_by_prompt_and_key_and_are_stable() -> None:
    one = canary_token(KEY, "t", "p", "support/triage")
    assert one == canary_token(KEY, "t", "p", "support/triage")
    assert one.startswith("adcanary-")
    assert len(one) == len("adcanary-") + 16
    assert one != canary_token(KEY, "t", "p", "other")
    assert one != canary_token(KEY, "t2", "p", "support/triage")
    assert one != canary_token(b"j" * 32, "t", "p", "support/triage")


def test_the_canary_goes_into_the_first_system_message_or_a_new_one() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"},
                                         {"role": "system", "content": "rules"}]}  # fmt: skip
    place_canary(body, "adcanary-0123456789abcdef")
    assert body["messages"][1]["content"].startswith("rules\n\n[adcanary-0123456789abcdef]")
    bare: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    place_canary(bare, "adcanary-0123456789abcdef")
    assert bare["messages"][0]["role"] == "system"
    assert bare["messages"][0]["content"].startswith("[adcanary-0123456789abcdef]")


@pytest.mark.parametrize(
    ("answer", "leaked"),
    [
        ("the code is adcanary-0123456789abcdef", True),
        ("A D C A N A R Y - 0 1 2 3 4 5 6 7 8 9 A B C D E F", True),
        ("0123\u200b4567-89ab.cdef", True),
        ("0123456789abcde", False),  # one digit short
        ("nothing to see", False),
    ],
)
async def test_a_leaked_canary_is_found_however_it_is_spaced(answer: str, leaked: bool) -> None:
    guardrail = CanaryGuardrail("canary", {"key": lambda: KEY})
    context = CheckContext(canary="adcanary-0123456789abcdef")
    verdict = await guardrail.check_output(answer, context)
    assert verdict.action == ("block" if leaked else "allow")
    assert (await guardrail.check_output(answer, CheckContext())).action == "allow"


SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "integer"}}},
    "required": ["items"],
}


@pytest.mark.parametrize(
    ("answer", "schema", "reason"),
    [
        ('{"items": [1, 2]}', SCHEMA, None),
        ('{"items": [1, "x"]}', SCHEMA,
         "the answer does not follow the schema at $.items[1]: 'x' is not of type 'integer'"),
        ("{}", SCHEMA,
         "the answer does not follow the schema at $: 'items' is a required property"),
        ("not json", {}, "the answer is not valid JSON: "),
        ('{"a": 1}', {}, None),
        ("[1]", {"type": "nonsense"}, "the requested schema is invalid: "),
    ],
)  # fmt: skip
async def test_answers_are_held_to_the_requested_schema(
    answer: str, schema: dict[str, Any], reason: str | None
) -> None:
    guardrail = JsonSchemaGuardrail("json_schema", {})
    verdict = await guardrail.check_output(answer, CheckContext(response_schema=schema))
    if reason is None:
        assert verdict.action == "allow"
    else:
        assert verdict.action == "block"
        assert verdict.reasons[0].startswith(reason), verdict.reasons
    no_schema = await guardrail.check_output("not json", CheckContext())
    assert no_schema.action == "allow"


def test_sanitizers_strip_controls_and_escape_html() -> None:
    assert strip_control("a\x00b\x07c\td\ne\x7f\x9f") == "abc\td\ne"
    assert (
        escape_html("<b>\"x\" & 'y'</b>") == "&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/b&gt;"
    )
    both = sanitizer(Sanitize(strip_control=True, html_escape=True))
    assert both is not None
    assert both("<i>\x01") == "&lt;i&gt;"
    assert sanitizer(Sanitize()) is None


class Service:
    """A loopback guardrail service whose behaviour each test sets."""

    def __init__(self) -> None:
        self.answer: Any = {"action": "allow"}
        self.status = 200
        self.delay_s = 0.0
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(await request.json())
        await asyncio.sleep(self.delay_s)
        body = self.answer if isinstance(self.answer, bytes) else orjson.dumps(self.answer)
        return web.Response(body=body, status=self.status, content_type="application/json")


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    found = Service()
    app = web.Application()
    app.router.add_post("/check", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield found, f"http://127.0.0.1:{port}/check"
    await runner.cleanup()


async def test_the_service_verdict_is_used_with_its_redactions(
    service: tuple[Service, str],
) -> None:
    fake, url = service
    guardrail = WebhookGuardrail("svc", {"url": url, "headers": {"x-team": "a"}})
    fake.answer = {"action": "redact", "reasons": ["a name"], "score": 0.9,
                   "redactions": [{"start": 3, "end": 8, "kind": "name"}]}  # fmt: skip
    context = CheckContext(project_id="p1", alias="m", source="tool", request_id="r1")
    verdict = await guardrail.check_input("hi Alice!", context)
    assert (verdict.action, verdict.reasons, verdict.score) == ("redact", ("a name",), 0.9)
    assert verdict.redactions == (Redaction(3, 8, "NAME"),)
    sent = fake.seen[0]
    assert sent["stage"] == "input"
    assert sent["text"] == "hi Alice!"
    assert sent["context"]["project_id"] == "p1"
    assert sent["context"]["source"] == "tool"
    await guardrail.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "delay_s", "reason"),
    [
        (500, {"action": "allow"}, 0.0, "the service answered 500"),
        (200, b"<html>", 0.0, "the answer is not JSON"),
        (200, {"action": "maybe"}, 0.0, "the answer has no action"),
        (200, {"action": "redact", "redactions": [{"start": 0, "end": 99, "kind": "X"}]}, 0.0,
         "redaction 0..99 'X' is out of the text"),
        (200, {"action": "allow"}, 1.0, "the service did not answer within 0.2s"),
    ],
)  # fmt: skip
async def test_a_failing_service_blocks_when_closed_and_flags_when_open(
    service: tuple[Service, str], status: int, answer: Any, delay_s: float, reason: str
) -> None:
    fake, url = service
    fake.status, fake.answer, fake.delay_s = status, answer, delay_s
    closed = WebhookGuardrail("svc", {"url": url, "timeout_s": 0.2})
    opened = WebhookGuardrail("svc", {"url": url, "timeout_s": 0.2, "fail": "open"})
    shut = await closed.check_input("hello", CheckContext())
    assert shut.action == "block"
    assert reason in shut.reasons[0]
    let_through = await opened.check_input("hello", CheckContext())
    assert let_through.action == "flag"
    # A policy's mode does not turn a failure let through into a block.
    assert ActiveGuardrail(opened, "webhook", "block").decide(let_through) == "flag"
    await closed.aclose()
    await opened.aclose()


async def test_an_unreachable_service_is_a_failure_too() -> None:
    guardrail = WebhookGuardrail("svc", {"url": "http://127.0.0.1:9/check", "timeout_s": 0.5})
    verdict = await guardrail.check_input("hello", CheckContext())
    assert verdict.action == "block"
    assert "did not answer" in verdict.reasons[0]
    await guardrail.aclose()
