"""Phone numbers in text (see `pii`'s docstring for what counts): international numbers
after `+` or `00`, cut at the country's length, and national formats (North American, trunk 0);
and the digit-span helpers the other number kinds of `pii` share.

Like `pii`, it works on the class string of the text: digits mapped to `0`, letters to `A`/`a`.
"""

from __future__ import annotations

import re

WORDISH = b"0Aa_"  # classes that glue a number to a word or to more digits
DIGIT_GROUP = re.compile(r"\d+")


def phone_spans(text: str, raw: bytes, classes: bytes) -> list[tuple[int, int]]:
    """(start, end) of every phone number in `text` (`raw`: its bytes, `classes`: its class
    string); they may overlap, `pii` resolves that."""
    spans = _plus_phones(text, raw, classes) + _double_zero_phones(text, raw, classes)
    return spans + _nanp_phones(text, classes) + _trunk_phones(text, raw, classes)


_PHONE_PLUS = re.compile(rb"\+0(?:[ .-]?\(?0+\)?)+")
_DOUBLE_ZERO = re.compile(rb"00(?<![0-9A-Za-z_+.,/-]00)[1-9]")  # on the text, not the classes
_PHONE_BODY = re.compile(rb"0+(?:[ .-]?\(?0+\)?)+")
# (a literal the pattern needs, the pattern); the second pattern's own literal search is as
# fast as a check for "000" first, so its check is the empty literal
_NANP = (
    (b"(000)", re.compile(rb"\(000\) ?000[-. ]0000")),
    (b"", re.compile(rb"000[-.]000[-.]0000")),
)
_TRUNK = re.compile(rb"00{1,4}[ /-]0{3,8}(?:[ -]0{3,4})?(?![0 ./-]0)|00(?:[ .]00){4}")
_TRUNK_START = re.compile(rb"0(?<![0-9A-Za-z_.,/+\-]0)[1-9]")  # on the text
_ZERO_RUN = re.compile(rb"0+")
# Country calling codes: 1 and 7 are one digit, these are two, every other code is three.
_TWO_DIGIT_CODES = frozenset([
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
])  # fmt: skip
# National significant number lengths (min, max) for common codes; others take (6, 12).
_NSN_LENGTHS = {
    "1": (10, 10), "7": (10, 10), "20": (8, 10), "27": (9, 9), "30": (10, 10), "31": (9, 9),
    "32": (8, 9), "33": (9, 9), "34": (9, 9), "36": (8, 9), "39": (6, 11), "40": (9, 9),
    "41": (9, 9), "43": (4, 13), "44": (9, 10), "45": (8, 8), "46": (7, 9), "47": (8, 8),
    "48": (9, 9), "49": (6, 11), "52": (10, 10), "54": (10, 11), "55": (10, 11), "61": (9, 9),
    "62": (8, 12), "63": (8, 10), "64": (8, 10), "65": (8, 8), "81": (9, 10), "82": (8, 10),
    "86": (9, 11), "90": (10, 10), "91": (10, 10), "92": (9, 10), "353": (7, 9), "351": (9, 9),
    "358": (6, 10), "380": (9, 9), "420": (9, 9), "966": (9, 9), "971": (8, 9), "972": (8, 9),
}  # fmt: skip


def bounded(classes: bytes, start: int, end: int) -> bool:
    """Whether the span is not glued to a word or to more digits on either side."""
    if start > 0 and classes[start - 1] in b"0Aa_-":
        return False
    return end >= len(classes) or (
        classes[end] not in WORDISH and classes[end : end + 2] not in (b"-0", b".0")
    )


def _plus_phones(text: str, raw: bytes, classes: bytes) -> list[tuple[int, int]]:
    """International numbers written after a plus sign."""
    spans = []
    for match in _PHONE_PLUS.finditer(classes) if b"+" in raw else ():
        if match.start() == 0 or classes[match.start() - 1] not in b"0Aa_+":
            end = _international_end(text, classes, match.start() + 1, match.end(), plus=True)
            if end:
                spans.append((match.start(), end))
    return spans


def _double_zero_phones(text: str, raw: bytes, classes: bytes) -> list[tuple[int, int]]:
    """International numbers written after 00."""
    spans = []
    for match in _DOUBLE_ZERO.finditer(raw):
        if _continues_digits(classes, match.start()):
            continue
        body = _PHONE_BODY.match(classes, match.start() + 2)
        end = body and _international_end(text, classes, body.start(), body.end(), plus=False)
        if end:
            spans.append((match.start(), end))
    return spans


def _nanp_phones(text: str, classes: bytes) -> list[tuple[int, int]]:
    """North American numbers in national format."""
    spans = []
    for shape, pattern in _NANP:
        for match in pattern.finditer(classes) if shape in classes else ():
            span = _nanp(text, classes, match.start(), match.end())
            if span:
                spans.append(span)
    return spans


def _trunk_phones(text: str, raw: bytes, classes: bytes) -> list[tuple[int, int]]:
    """National numbers with a trunk 0 (`020 7946 0958`), 10 or 11 digits in groups."""
    spans = []
    for run in _TRUNK_START.finditer(raw):
        start = run.start()
        match = None if _continues_digits(classes, start) else _TRUNK.match(classes, start)
        if match and bounded(classes, start, match.end()):
            digits = "".join(DIGIT_GROUP.findall(text[start : match.end()]))
            if len(digits) in (10, 11):
                spans.append((start, match.end()))
    return spans


def _continues_digits(classes: bytes, start: int) -> bool:
    """Whether a number starting at `start` is the next group of a longer digit sequence."""
    return start > 1 and classes[start - 1] in b" -." and classes[start - 2] == 48  # "0"


def _international_end(
    text: str, classes: bytes, start: int, end: int, *, plus: bool
) -> int | None:
    """Where the international number whose country code starts at `start` ends: the last group
    boundary at which its national number has the country's length."""
    groups: list[tuple[int, int]] = []  # each digit group; a written trunk "(0)" left out
    for group in _ZERO_RUN.finditer(classes, start, end):
        a, b = group.span()
        if not (text[a - 1 : b + 1] == "(0)" and groups):
            groups.append((a, b))
    digits = "".join(text[a:b] for a, b in groups)
    code = _country_code(digits)
    if code is None or (not plus and groups[0][1] - groups[0][0] != len(code)):
        return None  # after 00, the country code stands alone
    if len(digits) <= len(code):
        return None  # a country code with no number after it
    if not plus and digits[len(code)] == "0" and code != "39":
        return None  # a national number starts with 0 only in Italy
    low, high = _NSN_LENGTHS.get(code, (6, 12))
    count = -len(code)
    best = None
    for a, b in groups:
        count += b - a
        if count > high:
            break
        if count >= low:
            best = b + 1 if text[b : b + 1] == ")" else b
    if best is None or (best < len(classes) and classes[best] in WORDISH):
        return None
    return best


def _country_code(digits: str) -> str | None:
    if not digits:
        return None
    if digits[0] in "17":
        return digits[0]
    if digits[0] == "0" or len(digits) < 3:
        return None
    return digits[:2] if digits[:2] in _TWO_DIGIT_CODES else digits[:3]


def _nanp(text: str, classes: bytes, start: int, end: int) -> tuple[int, int] | None:
    """A North American number in national format, with its leading `1-` when written."""
    digits = "".join(DIGIT_GROUP.findall(text[start:end]))
    if digits[0] in "01" or digits[3] in "01" or digits[1:3] == "11" or digits[4:6] == "11":
        return None
    if text[start - 2 : start] in ("1-", "1 ", "1.") and (
        start < 3 or classes[start - 3] not in b"0Aa_+-."
    ):
        start -= 2
    elif start > 0 and classes[start - 1] in b"0Aa_+-./":
        return None
    if end < len(classes) and (classes[end] in WORDISH or classes[end : end + 2] in (b"-0", b".0")):
        return None
    return start, end
