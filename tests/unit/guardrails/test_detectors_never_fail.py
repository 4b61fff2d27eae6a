"""The detectors judge any text without raising: a guardrail that raises refuses the request
(fail closed), so a crash on odd input would refuse innocent requests."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.guardrails.injection import injection_score
from agentdeck.guardrails.normalize import normalize
from agentdeck.guardrails.pii import find_pii, redact

# Text made of the characters the detectors look at closely: digits, separators, signs,
# letters, and the invisible and confusable characters normalization removes or folds.
PIECES = st.sampled_from(
    ["0", "00", "1", "9", "+", "-", " ", ".", "(", ")", "/", ":", "@", "x", "A", "sk-", "ad_",
     "\u200b", "\U000e0041", "\u202e", "\uff21", "\u0430", "\n", "=", "_", "DE", "GB", "call "]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=60).map("".join))
def test_detectors_take_any_text_of_their_tricky_characters(text: str) -> None:
    spans = find_pii(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    redact(text)
    assert 0.0 <= injection_score(text).score <= 1.0
    normalize(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_detectors_take_any_unicode_text(text: str) -> None:
    find_pii(text)
    assert 0.0 <= injection_score(text).score <= 1.0


def test_a_country_code_with_nothing_after_it_is_no_phone() -> None:
    assert find_pii("call 00961") == []
    assert find_pii("call 0049 tomorrow") == []
