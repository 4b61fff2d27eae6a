"""Content of gateway spans: kept only for projects whose policy captures it, redacted before
storage, the whole answer or the stream's text as the client got it, cut at the cap."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agentdeck.gateway.models import MAX_CONTENT_CHARS, CallContent
from tests.unit.api._deck import Deck
from tests.unit.api.conftest import DeckFactory

ASK = [{"role": "user", "content": "mail me at jane.doe@example.com about it"}]
REPLY = "Sure: card 4111 1111 1111 1111 is noted."
FAKE = {"chatty": {"reply": REPLY, "chunks": 4}}
MODELS = {
    "chatty": {"deployments": [{"provider": "fake", "model": "chatty", "id": "chatty/1"}]},
    "embed": {"deployments": [{"provider": "fake", "model": "fake", "id": "embed/1"}]},
}


async def _span(deck: Deck, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await deck.client.post(path, json=body, headers=deck.owner)
    assert answer.status_code == 200, answer.text
    if body.get("stream"):
        assert b"data: [DONE]" in answer.content
    trace = await deck.wait_for_trace(deck.owner, answer.headers["x-agentdeck-trace-id"])
    (span,) = trace["spans"]
    return dict(span)


@pytest.fixture
async def capturing(open_deck: DeckFactory) -> Deck:
    content = {"capture": True}
    deck: Deck = await open_deck(
        models=MODELS, fake_models=FAKE, tracing={"enabled": True, "content": content}
    )
    return deck


@pytest.mark.parametrize("stream", [False, True])
async def test_captured_content_is_redacted_before_storage(capturing: Deck, stream: bool) -> None:
    body = {"model": "chatty", "messages": ASK, "stream": stream}
    span = await _span(capturing, "/v1/chat/completions", body)
    assert orjson.loads(span["input_text"]) == [
        {"role": "user", "content": "mail me at [EMAIL_1] about it"}
    ]
    assert span["output_text"] == "Sure: card [CARD_1] is noted."
    assert span["attributes"]["agentdeck.content"] == "captured"


async def test_an_anthropic_system_prompt_is_kept_first(capturing: Deck) -> None:
    body = {"model": "chatty", "max_tokens": 50, "system": "be brief", "messages": ASK}
    span = await _span(capturing, "/v1/messages", body)
    assert [m["role"] for m in orjson.loads(span["input_text"])] == ["system", "user"]
    assert span["output_text"] == "Sure: card [CARD_1] is noted."


async def test_an_embedding_keeps_its_input(capturing: Deck) -> None:
    span = await _span(capturing, "/v1/embeddings", {"model": "embed", "input": "call 555-0100"})
    assert span["input_text"] == "call 555-0100"
    assert span["output_text"] is None


async def test_without_the_policy_nothing_is_kept(open_deck: DeckFactory) -> None:
    deck = await open_deck(models=MODELS, fake_models=FAKE)
    span = await _span(deck, "/v1/chat/completions", {"model": "chatty", "messages": ASK})
    assert (span["input_text"], span["output_text"]) == (None, None)
    assert "agentdeck.content" not in span["attributes"]


async def test_another_projects_capture_does_not_apply(open_deck: DeckFactory) -> None:
    content = {"capture": False, "projects": {"prj_someone_else": True}, "redact": []}
    deck = await open_deck(
        models=MODELS, fake_models=FAKE, tracing={"enabled": True, "content": content}
    )
    span = await _span(deck, "/v1/chat/completions", {"model": "chatty", "messages": ASK})
    assert (span["input_text"], span["output_text"]) == (None, None)
    me = await deck.api("GET", "/me")
    own = {"capture": False, "projects": {me["project_id"]: True}, "redact": []}
    mine = await open_deck(
        models=MODELS, fake_models=FAKE, tracing={"enabled": True, "content": own}
    )
    span = await _span(mine, "/v1/chat/completions", {"model": "chatty", "messages": ASK})
    assert span["output_text"] == REPLY  # kept, and as sent: redaction is off


def test_output_is_kept_up_to_the_cap() -> None:
    content = CallContent(input=None)
    content.add_output("x" * (MAX_CONTENT_CHARS - 3))
    content.add_output("abcdef")
    content.add_output("more")
    assert content.size == MAX_CONTENT_CHARS
    assert "".join(content.output).endswith("xxxabc")
