"""Redaction of personal data and secrets in captured span content, before it is stored.

Each match is replaced by a typed placeholder numbered per text (`[EMAIL_1]`, `[EMAIL_2]`);
the same value gets the same number within one text. Card numbers must pass the Luhn check
and IBANs the mod-97 check, so order numbers and other long digit runs are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SECRET", re.compile(
        r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|ad_[a-z0-9]+_[A-Za-z0-9_-]{20,})"
    )),
    ("EMAIL", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("SSN", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    ("PHONE", re.compile(
        r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}\b"
    )),
    ("IP", re.compile(
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
        r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
    )),
)  # fmt: skip
KINDS = tuple(kind for kind, _ in _PATTERNS)


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum of payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """Whether a candidate IBAN passes its mod-97 check."""
    compact = text.replace(" ", "")
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


def _valid(kind: str, value: str) -> bool:
    if kind == "CARD":
        digits = re.sub(r"[ -]", "", value)
        return 13 <= len(digits) <= 19 and luhn_ok(digits)
    if kind == "IBAN":
        return iban_ok(value)
    return True


def redactor(kinds: tuple[str, ...] = KINDS) -> Callable[[str], str]:
    """A function that replaces every match of `kinds` in a text by its placeholder."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown redaction kinds {unknown}; known: {list(KINDS)}")
    chosen = [(kind, pattern) for kind, pattern in _PATTERNS if kind in kinds]

    def redact(text: str) -> str:
        numbers: dict[tuple[str, str], int] = {}
        counts: dict[str, int] = {}

        for kind, pattern in chosen:

            def place(match: re.Match[str], kind: str = kind) -> str:
                value = match.group(0)
                if not _valid(kind, value):
                    return value
                key = (kind, value)
                if key not in numbers:
                    counts[kind] = counts.get(kind, 0) + 1
                    numbers[key] = counts[kind]
                return f"[{kind}_{numbers[key]}]"

            text = pattern.sub(place, text)
        return text

    return redact
