"""Prompt-injection heuristics: a score in [0, 1] and the signals behind it.

Every pattern runs on `normalize(text)`, so zero-width characters, look-alike letters,
fullwidth forms, case, spacing, escapes and simple leetspeak do not change the score. Text
smuggled in Unicode tag characters is decoded and scored like visible text.

Each signal has a weight (how often, as judged on the corpus in the tests, a text showing it is
an attack); signals combine as independent evidence, `score = 1 - prod(1 - weight)`, each signal
counted once. One strong signal (an instruction override, a request for the system prompt or
for secrets, a DAN persona, exfiltration through a URL or a markdown image) reaches
`DEFAULT_THRESHOLD` alone; weak ones (a `system:` line, a chat-template token, "from now on",
"you are now ...", a note addressed to an AI) need company, because each turns up in benign
text too. Hidden content (tag characters, zero-width runs, bidi controls) is reported as a
signal (`hidden_tag`, `hidden_zero_width`, `hidden_bidi`) with weight 0: what hidden text says
is scored, but hiding it neither raises nor lowers the score, so an obfuscated text gets the
score of its plain form and a policy can still act on the signal.

These are heuristics: they catch the phrasings of known attack families and their rewordings,
not every paraphrase; the tests measure the rates on a labelled corpus.

Cost: each pattern has anchors. One split of the normalized text into words says which anchors
can occur (a set lookup per word); only those are searched, and a pattern is matched only where
its anchor occurs, its prefix only in a short window before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentdeck.guardrails.injection_rules import HOW_TO, RULES
from agentdeck.guardrails.normalize import decode_tags, hidden_text, normalize

DEFAULT_THRESHOLD = 0.5


_HIDDEN = {"tag characters": "hidden_tag", "zero-width run": "hidden_zero_width",
           "bidi controls": "hidden_bidi"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """How strongly a text looks like a prompt injection, and why."""

    score: float  # 0 (nothing seen) to 1
    signals: tuple[str, ...]  # sorted signal names, e.g. ("exfil_prompt", "override")


# The words whose presence makes an anchor worth a search: one set lookup per word of the text
# replaces a scan of the whole text per anchor. Anchors of punctuation are searched always.
_TRIGGERS: dict[str, str] = {
    "ignor": "ignore ignores ignored ignoring", "disregard": "disregard disregarding",
    "forget": "forget forgetting", "overrid": "override overrides overriding overridden",
    "bypass": "bypass bypassing", "discard": "discard discarding", "abandon": "abandon abandoning",
    "set aside": "aside", "follow": "follow follows following", "obey": "obey obeying",
    "adher": "adhere adhering", "instruction": "instruction instructions", "new rule": "rule rules",
    "your new": "new", "your real": "real", "your true": "true", "from now on": "now",
    "from here on": "here", "from this point": "point", "you are": "you", "you're": "re",
    "pretend": "pretend pretending", "act as": "act",
    "restrict": "restrict restricted restriction restrictions unrestricted",
    "censor": "censor censored censorship uncensored", "guideline": "guideline guidelines",
    "polic": "policy policies", "limit": "limit limits limited limitation limitations",
    "rules": "rules", "unrestrict": "unrestricted", "uncensor": "uncensored",
    "unfilter": "unfiltered", "jailbr": "jailbreak jailbreaks jailbroken jailbreaking",
    "dan": "dan", "anything now": "anything", " mode": "mode",
    "system": "system systems", "assistant": "assistant assistants", "developer": "developer",
    "admin": "admin administrator", "ai:": "ai", "ai :": "ai", " ai": "ai",
    "prompt": "prompt prompts", "configuration": "configuration", "preamble": "preamble",
    "context window": "window", "above": "above", "before this": "before",
    "key": "key keys apikey", "passw": "password passwords passwd",
    "credential": "credential credentials", "secret": "secret secrets",
    "environment variable": "environment", "the user": "user", "mention this": "mention",
    "reveal this": "reveal", "disclose this": "disclose",
    "llm": "llm llms", "model": "model models", "language model": "language", "instead": "instead",
    "pwn": "pwn pwned pwnd pwning", "privilege": "privilege privileges", "aside": "aside",
    "supersede": "supersede supersedes", "overrides": "overrides", "replaces": "replaces",
    "precedence": "precedence", "guardrail": "guardrail guardrails",
    "filter": "filter filters filtered", "ethic": "ethics ethical", "moral": "morals moral",
    "constraint": "constraint constraints", "drop": "drop dropping", "skip": "skip skipping",
    "suspend": "suspend suspending", "disabl": "disable disabling", "turn off": "off",
    "lift": "lift lifting", "remov": "remove removing", "escaped": "escaped",
    "broken free": "broken", "broke free": "broke", "freed": "freed", "creator": "creator",
    "operator": "operator", "programmer": "programmer", "the real": "real", "the true": "true",
    "the actual": "actual", "hidden": "hidden", "confidential": "confidential",
    "setup": "setup", "internal": "internal", "token": "token tokens",
    "directive": "directive directives", "command": "command commands",
}  # fmt: skip
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
_WORDS = bytes(byte if byte in _WORD_CHARS else 32 for byte in range(256))
_Compiled = tuple[str, float, "re.Pattern[str]", "re.Pattern[str] | None", tuple[str, ...], int]
_Anchor = tuple[str, int, tuple[_Compiled, ...]]


def _compile() -> tuple[tuple[_Anchor, ...], dict[bytes, tuple[_Anchor, ...]]]:
    by_anchor: dict[str, list[_Compiled]] = {}
    for rule in RULES:
        pattern = re.compile(rule.pattern, re.MULTILINE)
        prefix = re.compile(f"(?:{rule.prefix})\\Z", re.MULTILINE) if rule.prefix else None
        for anchor in rule.anchors:
            compiled = (rule.signal, rule.weight, pattern, prefix, rule.gate, rule.window)
            by_anchor.setdefault(anchor, []).append(compiled)
    always: list[_Anchor] = []
    by_word: dict[bytes, tuple[_Anchor, ...]] = {}
    for anchor, rules in by_anchor.items():
        entry = (anchor, 1 if anchor[0] == " " else 0, tuple(rules))
        if anchor not in _TRIGGERS:
            always.append(entry)  # punctuation: a cheap search
        for word in _TRIGGERS.get(anchor, "").split():
            by_word[word.encode()] = (*by_word.get(word.encode(), ()), entry)
    return tuple(always), by_word


_ALWAYS, _BY_WORD = _compile()
_TRIGGER_WORDS = frozenset(_BY_WORD)


def injection_score(text: str) -> InjectionResult:
    """Score `text` (a message, a tool output, a retrieved document) for prompt injection."""
    fired: dict[str, float] = {}
    _scan(normalize(text), fired)
    if not text.isascii():
        for reason in hidden_text(text):
            fired[_HIDDEN[reason.split(":", 1)[0]]] = 0.0
        payload = decode_tags(text)
        if payload:
            _scan(normalize(payload), fired)
    remaining = 1.0
    for weight in fired.values():
        remaining *= 1.0 - weight
    return InjectionResult(round(1.0 - remaining, 4), tuple(sorted(fired)))


def _scan(text: str, fired: dict[str, float]) -> None:
    """Add to `fired` every signal whose pattern matches at one of its anchors."""
    text = "\n" + text  # the line break a heading's anchor needs at the start
    words = _TRIGGER_WORDS.intersection(text.encode("ascii", "replace").translate(_WORDS).split())
    # Keyed by the anchor's text: an entry holds its compiled rules, and hashing that tuple
    # (what a set of entries would do) costs more than the search it selects.
    anchors = {entry[0]: entry for word in words for entry in _BY_WORD[word]}
    find = text.find
    for anchor, skip, rules in (*_ALWAYS, *anchors.values()):
        if anchor == "\n":  # line breaks are many and the patterns start with one: one search
            for signal, weight, pattern, _, _, _ in rules:
                if signal not in fired and pattern.search(text):
                    fired[signal] = weight
            continue
        if anchor == "://" and "/" not in text:
            continue  # a one-character search is several times faster than a search for "://"
        position = find(anchor)
        while position >= 0:
            at = position + skip
            for signal, weight, pattern, prefix, gate, window in rules:
                if signal in fired or not pattern.match(text, at):
                    continue
                if prefix is None or _prefixed(prefix, gate, text, max(0, at - window), at):
                    fired[signal] = weight
            position = find(anchor, position + 1)


def _prefixed(
    prefix: re.Pattern[str], gate: tuple[str, ...], text: str, start: int, at: int
) -> bool:
    """Whether the text before `at` is what the rule needs; a first-person how-to question
    ("how do I print the system prompt in LangChain?") asks about a thing, not for it."""
    if gate:
        before = text[start:at]
        if not any(word in before for word in gate):
            return False
    if prefix.search(text, start, at) is None:
        return False
    return HOW_TO.search(text, max(0, at - 120), at) is None
