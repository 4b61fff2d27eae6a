"""The guardrail pipeline on its own: modes over verdicts, placeholders across texts, blocks,
failing guardrails, and streams judged window by window with the same result as the whole
text however the stream is cut, never holding more than the window plus one finding."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.errors import GuardrailBlockedError
from agentdeck.guardrails.models import CheckContext, Redaction, Verdict
from agentdeck.guardrails.outcome import ActiveGuardrail, Placeholders, merge_redactions
from agentdeck.guardrails.pipeline import ActivePolicy, CallGuard
from agentdeck.guardrails.sanitize import sanitizer
from agentdeck.settings_guardrails import Sanitize

TOKEN = re.compile(r"\btok-[0-9]{6}\b")


class TokenGuardrail:
    """Finds `tok-` and six digits; suggests redact."""

    name = "tokens"
    window_chars = 16

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _verdict(self, text: str) -> Verdict:
        self.seen.append(text)
        spans = tuple(Redaction(m.start(), m.end(), "TOKEN") for m in TOKEN.finditer(text))
        if not spans:
            return Verdict(self.name)
        return Verdict(self.name, "redact", (f"{len(spans)} TOKEN",), spans, findings={"TOKEN": 1})

    async def check_input(self, text: str, context: CheckContext) -> Verdict:
        return self._verdict(text)

    async def check_output(self, text: str, context: CheckContext) -> Verdict:
        return self._verdict(text)

    async def check_chunk(self, window: str, context: CheckContext) -> Verdict:
        return self._verdict(window)


class WordGuardrail(TokenGuardrail):
    """Suggests block on the word `forbidden`."""

    name = "words"

    def _verdict(self, text: str) -> Verdict:
        if "forbidden" in text:
            return Verdict(self.name, "block", ("the word forbidden",))
        return Verdict(self.name)


class BrokenGuardrail(TokenGuardrail):
    name = "broken"

    def _verdict(self, text: str) -> Verdict:
        raise RuntimeError("bug")


def _policy(*uses: ActiveGuardrail, window: int = 16, clean: bool = False) -> ActivePolicy:
    chosen = sanitizer(Sanitize(strip_control=True)) if clean else None
    return ActivePolicy("p", tuple(uses), tuple(uses), tuple(uses), chosen, window)


def _guard(policy: ActivePolicy, counted: list[tuple[str, str, str]] | None = None) -> CallGuard:
    sink = counted if counted is not None else []
    return CallGuard(policy, CheckContext(), lambda *key: sink.append(key))


def test_placeholders_number_each_value_once_per_call() -> None:
    marks = Placeholders()
    text = "a x b y c x"
    spans = [Redaction(2, 3, "V"), Redaction(6, 7, "V"), Redaction(10, 11, "V")]
    assert marks.apply(text, spans) == "a [V_1] b [V_2] c [V_1]"
    assert marks.apply("y", [Redaction(0, 1, "V")]) == "[V_2]"  # the same call, later text


def test_overlapping_spans_merge_the_earlier_and_longer_first() -> None:
    spans = [
        Redaction(5, 9, "B"),
        Redaction(0, 6, "A"),
        Redaction(1, 3, "C"),
        Redaction(12, 14, "D"),
    ]
    assert merge_redactions(spans) == [Redaction(0, 9, "A"), Redaction(12, 14, "D")]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(None, "redact"), ("flag", "flag"), ("block", "block"), ("allow", "allow")],
)
def test_the_mode_replaces_the_suggestion_only_when_something_was_found(
    mode: Any, expected: str
) -> None:
    use = ActiveGuardrail(TokenGuardrail(), "tokens", mode)
    found = Verdict("tokens", "redact", ("x",), (Redaction(0, 1, "T"),))
    assert use.decide(found) == expected
    assert use.decide(Verdict("tokens")) == "allow"


def test_redact_mode_on_a_finding_without_spans_blocks() -> None:
    use = ActiveGuardrail(WordGuardrail(), "words", "redact")
    assert use.decide(Verdict("words", "block", ("the word forbidden",))) == "block"


async def test_request_texts_are_redacted_in_place_and_counted() -> None:
    counted: list[tuple[str, str, str]] = []
    guard = _guard(_policy(ActiveGuardrail(TokenGuardrail(), "tokens")), counted)
    body = {
        "messages": [
            {"role": "system", "content": "keep tok-111111 safe"},
            {"role": "user", "content": [{"type": "text", "text": "mine is tok-222222"}]},
            {"role": "user", "content": "again tok-111111"},
        ]
    }
    await guard.check_request(body)
    assert body["messages"] == [
        {"role": "system", "content": "keep [TOKEN_1] safe"},
        {"role": "user", "content": [{"type": "text", "text": "mine is [TOKEN_2]"}]},
        {"role": "user", "content": "again [TOKEN_1]"},
    ]
    assert counted == [("tokens", "input", "redact")] * 3
    events = guard.verdicts.events
    assert [e["attributes"]["agentdeck.guardrail.action"] for e in events] == ["redact"] * 3
    assert events[0]["attributes"]["agentdeck.guardrail.findings"] == {"TOKEN": 1}


async def test_a_block_raises_the_guardrail_error_naming_guardrail_and_reason() -> None:
    guard = _guard(_policy(ActiveGuardrail(WordGuardrail(), "words")))
    with pytest.raises(GuardrailBlockedError) as caught:
        await guard.check_request({"messages": [{"role": "user", "content": "a forbidden ask"}]})
    error = caught.value
    assert error.message == "guardrail 'words' blocked the request: the word forbidden"
    assert (error.param, error.wire_code, error.status) == ("words", "guardrail_blocked", 400)
    assert guard.verdicts.blocked


async def test_a_guardrail_that_raises_fails_closed_and_is_recorded() -> None:
    counted: list[tuple[str, str, str]] = []
    guard = _guard(_policy(ActiveGuardrail(BrokenGuardrail(), "broken")), counted)
    with pytest.raises(GuardrailBlockedError, match="the guardrail failed: RuntimeError"):
        await guard.check_request({"messages": [{"role": "user", "content": "hello"}]})
    assert counted == [("broken", "input", "error")]


async def test_a_whole_answer_is_redacted_and_sanitized() -> None:
    guard = _guard(_policy(ActiveGuardrail(TokenGuardrail(), "tokens"), clean=True))
    raw = b'{"choices":[{"message":{"role":"assistant","content":"t tok-123456\\u0007 ok"}}]}'
    out = await guard.check_answer(raw)
    assert out == b'{"choices":[{"message":{"role":"assistant","content":"t [TOKEN_1] ok"}}]}'
    untouched = b'{"choices":[{"message":{"role":"assistant","content":"fine"}}]}'
    assert await guard.check_answer(untouched) is untouched


def _pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in pairwise(points)]


WORDS = st.sampled_from(["alpha", "tok-123456", "tok-987654", "beta", "tok-12345", "x", "\n"])


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=40), st.lists(st.integers(0, 400), max_size=30))
async def test_a_stream_cut_anywhere_reads_as_the_whole_text_redacted(
    words: list[str], cuts: list[int]
) -> None:
    text = " ".join(words)
    whole = await _guard(_policy(ActiveGuardrail(TokenGuardrail(), "tokens"))).check_answer(
        b'{"choices":[{"message":{"content":' + _json(text) + b"}}]}"
    )
    guardrail = TokenGuardrail()
    stream = _guard(_policy(ActiveGuardrail(guardrail, "tokens"))).stream()
    sent = []
    for piece in _pieces(text, cuts):
        sent.append(await stream.feed(piece))
        # Held back: the window, a word's tail up to 64 characters, or one finding more.
        assert stream.held <= 16 + 64 + len(piece)
    sent.append(await stream.finish())
    assert _json("".join(sent)) in whole
    assert "tok-123456" not in "".join(sent)
    assert all(len(window) <= 16 + 64 + len(text) for window in guardrail.seen)


def _json(text: str) -> bytes:
    return orjson.dumps(text)


async def test_a_stream_block_raises_when_the_word_is_cut_between_chunks() -> None:
    stream = _guard(_policy(ActiveGuardrail(WordGuardrail(), "words"))).stream()
    assert await stream.feed("this is a forb") == ""
    with pytest.raises(GuardrailBlockedError, match="blocked the streamed answer"):
        await stream.feed("idden word")


async def test_a_long_stream_is_let_through_as_it_comes_not_at_the_end() -> None:
    stream = _guard(_policy(ActiveGuardrail(TokenGuardrail(), "tokens"))).stream()
    released = [await stream.feed("word " * 20) for _ in range(10)]
    assert all(len(r) >= 80 for r in released[1:])  # all but about a window is sent at once
    assert stream.held <= 16 + 5


class ScoreGuardrail(TokenGuardrail):
    """Allows every text, with its length as the score."""

    name = "scores"

    def _verdict(self, text: str) -> Verdict:
        self.seen.append(text)
        return Verdict(self.name, score=len(text) / 100, threshold=0.9)


async def test_every_verdict_is_recorded_allow_once_per_stage_with_the_highest_score() -> None:
    counted: list[tuple[str, str, str]] = []
    scores = ScoreGuardrail()
    guard = _guard(_policy(ActiveGuardrail(scores, "scores"),
                           ActiveGuardrail(TokenGuardrail(), "tokens")), counted)  # fmt: skip
    body = {"messages": [{"role": "user", "content": "short"},
                         {"role": "user", "content": "a longer text, tok-123456"},
                         {"role": "user", "content": "mid-size"}]}  # fmt: skip
    await guard.check_request(body)
    stream = guard.stream()
    for piece in ("an answer ", "that streams ", "in pieces"):
        await stream.feed(piece)
    await stream.finish()
    assert counted == [
        ("scores", "input", "allow"), ("tokens", "input", "allow"),
        ("tokens", "input", "redact"),
        ("scores", "stream", "allow"), ("tokens", "stream", "allow"),
    ]  # fmt: skip
    kept = [
        tuple(e["attributes"].get(f"agentdeck.guardrail.{key}")
              for key in ("stage", "name", "action", "score"))
        for e in guard.verdicts.events
    ]  # fmt: skip
    assert (
        kept
        == [
            ("input", "scores", "allow", 0.25),  # the longest of the three messages: 25 characters
            ("input", "tokens", "allow", None),
            ("input", "tokens", "redact", None),
            # the longest window the stream was judged on (the three inputs were seen first)
            ("stream", "scores", "allow", max(len(window) for window in scores.seen[3:]) / 100),
            ("stream", "tokens", "allow", None),
        ]
    )
