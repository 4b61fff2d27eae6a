"""Micro-benchmark of the guardrails on one core: the detectors (`find_pii`, `normalize`,
`injection_score`) over a 2 KB English prompt, plain and with a few PII items, and the whole
gateway step (`Guardrails.for_call` + `CallGuard.check_request` with the policy
`input: [pii redact, injection]`, `CallGuard.check_answer` with `output: [pii redact]`) on the
2 KB support ticket that `bench/guardrails_gateway.py` sends.

Each figure is the median of many calls timed with `time.perf_counter_ns`, after a warm-up.
The guardrails' coroutines never suspend (the built-ins do no I/O), so they are driven with
`send(None)` here, without an event loop, which is what is left to time. These run on every
gateway request; the targets are a median of at most 100 us for `find_pii`, for `normalize` +
`injection_score`, and for the whole input step over 2 KB.

Run: .venv/bin/python bench/guardrails.py [--iterations 5000] [--only check_request ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from agentdeck.guardrails.injection import injection_score
from agentdeck.guardrails.models import CheckContext
from agentdeck.guardrails.normalize import normalize
from agentdeck.guardrails.pii import find_pii, redact
from agentdeck.guardrails.service import Guardrails
from agentdeck.settings_guardrails import GuardrailSettings
from guardrails_gateway import TICKET

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

# The policies of bench/guardrails_gateway.py's rows, as settings.
_INPUT = [{"guardrail": "pii", "mode": "redact"}, {"guardrail": "injection"}]
_OUTPUT = [{"guardrail": "pii", "mode": "redact"}]


def _guardrails(policy: dict[str, Any]) -> Guardrails:
    guardrails = Guardrails(GuardrailSettings(policies=[{"name": "bench", **policy}]))
    guardrails.start("bench")
    return guardrails


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never suspends."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a guardrail suspended: this bench times CPU-only guardrails")


def _chat(content: str) -> dict[str, Any]:
    return {"model": "bench", "messages": [{"role": "user", "content": content}]}


def _answer(content: str) -> bytes:
    """An OpenAI-format chat answer holding `content`, as the upstream sends it."""
    message = {"role": "assistant", "content": content}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    usage = {"prompt_tokens": 500, "completion_tokens": 500, "total_tokens": 1000}
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                         "model": "bench", "choices": [choice], "usage": usage})  # fmt: skip


def gateway_steps() -> dict[str, Callable[[str], object]]:
    """The gateway's guardrails step on a text: the input step (`for_call` and
    `check_request`, the body built anew as each request brings its own) and the output step
    (`check_answer` on an answer holding the text)."""
    inputs = _guardrails({"input": _INPUT})
    both = _guardrails({"input": _INPUT, "output": _OUTPUT})
    context = CheckContext(alias="bench")

    def check_request(text: str) -> object:
        body = _chat(text)
        guard = inputs.for_call(body, context)
        assert guard is not None
        return _run(guard.check_request(body))

    answers: dict[str, bytes] = {}

    def check_answer(text: str) -> object:
        raw = answers.get(text) or answers.setdefault(text, _answer(text))
        guard = both.for_call(_chat("hello"), context)
        assert guard is not None
        return _run(guard.check_answer(raw))

    return {"check_request": check_request, "check_answer": check_answer}


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


def main() -> None:
    """Print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--only", nargs="*", help="the rows to time (default: all)")
    args = parser.parse_args()
    steps = gateway_steps()
    detectors: list[tuple[str, Callable[[str], object]]] = [
        ("find_pii", find_pii),
        ("normalize", normalize),
        ("injection_score", injection_score),
    ]
    print(f"prompt: {len(PROMPT)} characters plain, {len(PROMPT_WITH_PII)} with PII")
    print(f"PII found in the second: {[r.kind for r in find_pii(PROMPT_WITH_PII)]}")
    for name, function in detectors:
        if args.only is None or name in args.only:
            plain = median_us(function, PROMPT, args.iterations)
            with_pii = median_us(function, PROMPT_WITH_PII, args.iterations)
            print(f"{name:16s} plain {plain:7.1f} us   with PII {with_pii:7.1f} us")
    # The ticket of bench/guardrails_gateway.py, and the answer its fake model echoes back in
    # the guardrails rows (the ticket with its PII already replaced by placeholders).
    echoed = redact(TICKET)
    rows = [
        ("find_pii", find_pii, TICKET),
        ("normalize", normalize, TICKET),
        ("injection_score", injection_score, TICKET),
        ("check_request", steps["check_request"], TICKET),
        ("check_answer", steps["check_answer"], TICKET),
        ("check_answer (echo)", steps["check_answer"], echoed),
    ]
    print(f"ticket: {len(TICKET)} characters; input policy {_INPUT}, output policy {_OUTPUT}")
    for name, function, text in rows:
        if args.only is None or name.split()[0] in args.only:
            label = f"{name} on the ticket"
            print(f"{label:36s} {median_us(function, text, args.iterations):7.1f} us")


if __name__ == "__main__":
    main()
