"""Micro-benchmark of the guardrail detectors on one core: `find_pii`, `normalize` and
`injection_score` over a 2 KB English prompt, plain and with a few PII items.

Each figure is the median of many calls timed with `time.perf_counter_ns`, after a warm-up.
These detectors run on every gateway request; the targets are a median of at most 100 us for
`find_pii` and for `normalize` + `injection_score` over 2 KB.

Run: .venv/bin/python bench/guardrails.py [--iterations 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from agentdeck.guardrails.injection import injection_score
from agentdeck.guardrails.normalize import normalize
from agentdeck.guardrails.pii import find_pii

_PARAGRAPHS = (
    "Hi, I need help writing the monthly update for our customers. We run a small online shop "
    "that sells handmade ceramics, and this month we moved to a new warehouse, changed our "
    "shipping partner and launched a spring collection of bowls, mugs and vases.",
    "Please keep the tone warm and a little playful, but not silly. Our customers are mostly "
    "people who care about craft and like to know the story behind each piece. The update "
    "should open with a short thank-you for their patience during the move, because a few "
    "orders were delayed by about a week in March.",
    "Then explain what changes for them: orders now ship from the new warehouse within two "
    "working days, tracking links arrive by email as soon as the parcel leaves, and returns "
    "are free for thirty days instead of fourteen. Mention that the new packaging uses "
    "recycled paper and no plastic at all, which many of them asked for.",
    "For the spring collection, describe the glazes in a sentence or two each: a pale green "
    "celadon, a speckled oatmeal and a deep blue that our potter calls midnight. Prices start "
    "at twenty-four dollars for a mug. There is a small discount for newsletter readers until "
    "the end of the month; say that the code is in the footer rather than repeating it.",
    "Close with an invitation to the open studio day on the last Saturday of April, where "
    "people can see the kilns, meet the team and try the wheel. We will serve coffee and "
    "cake, and children are welcome. Ask them to reply if they plan to come so we can bake "
    "enough.",
    "Length: about three hundred words. Use short paragraphs and no more than one list. Avoid "
    "exclamation marks except perhaps once. Write it in British English, and suggest two or "
    "three subject lines at the end so I can pick the one I like best.",
    "One more thing: last year a few readers told us the updates felt like adverts. If any "
    "sentence sounds like a sales pitch, rewrite it so it sounds like a note from a friend. "
    "And please check the spelling of the glaze names against the list on our website, since "
    "the potter renamed two of them after the last firing.",
)
PROMPT = "\n\n".join(_PARAGRAPHS)
PROMPT_WITH_PII = PROMPT.replace(
    "Ask them to reply",
    "Ask them to write to studio.events@example.co.uk or call +44 20 7946 0958 ",
).replace("in March.", "in March (one refund went to card 4111 1111 1111 1111 from 203.0.113.45).")


def median_us(function: Callable[[str], object], text: str, iterations: int) -> float:
    """The median time of `function(text)` in microseconds over `iterations` calls."""
    for _ in range(200):
        function(text)
    timings = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        function(text)
        timings.append(time.perf_counter_ns() - start)
    return statistics.median(timings) / 1000


def _normalize_and_score(text: str) -> object:
    """What an injection check costs: the score normalizes the text itself."""
    return injection_score(text)


def main() -> None:
    """Print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    iterations = parser.parse_args().iterations
    print(f"prompt: {len(PROMPT)} characters plain, {len(PROMPT_WITH_PII)} with PII")
    print(f"PII found in the second: {[r.kind for r in find_pii(PROMPT_WITH_PII)]}")
    rows = [
        ("find_pii", find_pii),
        ("normalize", normalize),
        ("injection_score (normalize included)", _normalize_and_score),
    ]
    for name, function in rows:
        plain = median_us(function, PROMPT, iterations)
        with_pii = median_us(function, PROMPT_WITH_PII, iterations)
        print(f"{name:38s} plain {plain:7.1f} us   with PII {with_pii:7.1f} us")


if __name__ == "__main__":
    main()
