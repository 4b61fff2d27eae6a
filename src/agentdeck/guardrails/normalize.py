"""Text normalization for detectors, and the hidden content a raw text can carry.

`normalize` folds the ways one word can be written into one spelling, so a detector's patterns
see `ignore` whatever the sender did to it: invisible characters are dropped (zero-width, soft
hyphen, bidi controls, Unicode tag characters, C0/C1 controls), compatibility forms are folded
(NFKD: fullwidth, mathematical, circled and ligature letters), accents are stripped, Cyrillic,
Greek and other letters that look Latin are mapped to the Latin letter they look like, case is
folded, every run of whitespace becomes one space (or one newline when it holds a line break,
so line starts stay visible), escapes as JSON writes them are read (`\\n`, `\\u0069`), and
simple leetspeak inside words is undone (`1gn0re` -> `ignore`; only in tokens of at least three
letters and no more digits than letters, so `2024`, `v1`, `x86`, `10am` and `4th` stay). The
output is for matching, never for display.

`hidden_text` says what a raw text hides from a human reader but not from a model: text
smuggled in tag characters (decoded), runs of zero-width characters, bidi controls.

Pure printable ASCII, the common case, takes a fast path that skips the Unicode work.
"""

# ruff: noqa: RUF001 - the confusables table holds look-alike letters on purpose

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Characters that render as nothing. Tag characters (U+E0000..E007F) spell ASCII invisibly
# (U+E0000 + ord(c)); bidi controls reorder what a reader sees without changing what a model
# reads.
_ZERO_WIDTH = "\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_TAGS = "\U000e0000-\U000e007f"
_CONTROLS = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"  # NEL (\x85) is a line break
_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}{_BIDI}{_TAGS}{_CONTROLS}]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LINE_BREAKS = str.maketrans({"\u0085": "\n", "\u2028": "\n", "\u2029": "\n"})

# Letters of other scripts that look like a Latin letter, written from knowledge of the Unicode
# confusables list (a compact hand-written subset, not a download). The table is case-sensitive
# and applied before case folding, because upper and lower case of one letter can look like two
# different Latin letters (Greek capital eta looks like H, small eta like n).
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y",
    "Һ": "H", "Ӏ": "I", "Ԁ": "D", "Ԍ": "G", "Ѵ": "V",
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "х": "x", "у": "y", "ѕ": "s", "і": "i", "ј": "j", "ԛ": "q", "ԝ": "w", "ү": "y",
    "һ": "h", "ӏ": "l", "ԁ": "d", "ɡ": "g", "ѵ": "v", "ѡ": "w", "г": "r", "п": "n", "ԍ": "g",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ϲ": "c", "ϳ": "j",
    # Armenian and Latin look-alikes
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "զ": "q", "ց": "g",
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʏ": "y", "ǀ": "l", "ɪ": "i", "ʀ": "r", "ᴀ": "a",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ᴋ": "k", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z",
    # Typographic punctuation, so English with curly quotes still takes the ASCII fast path.
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "•": "*",
})  # fmt: skip

# One pass over the ASCII bytes: lower case, every line break to \n, other whitespace to a
# space, control characters dropped.
_ASCII_TABLE = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\t\r\x0b\x0c", b"abcdefghijklmnopqrstuvwxyz \n\n\n"
)
_ASCII_DROP = bytes(range(0x09)) + bytes(range(0x0E, 0x20)) + b"\x7f"
_BREAK_RUN = re.compile(r"[^\S\n\r\x0b\x0c]*[\n\r\x0b\x0c]\s*")
_SPACE_RUN = re.compile(r"[^\S\n]+")
_LEET_TOKEN = re.compile(r"(?<![a-z0-9])[a-z0-9]*(?:[a-z][0-9]|[0-9][a-z])[a-z0-9]*(?![a-z0-9])")
# Letters -> a, digits -> 0, anything else -> space: where leetspeak can hide.
_CLASSES = bytes(
    ord("a") if chr(c).isalpha() and c < 128 else ord("0") if chr(c).isdigit() else 32
    for c in range(256)
)
_MIXED = re.compile(rb"0(?:(?<=a0)|0*a)")  # a digit run touching a letter
_BREAK_TAIL = re.compile(rb"\n[ \n]+")
_LEET = str.maketrans("013457", "oieast")
_LEET_BYTES = bytes.maketrans(b"013457", b"oieast")

# Escapes as JSON and string literals write them (tool outputs are JSON): `\n` is a line break
# there, and `\u0069gnore` spells "ignore".
_ESCAPE = re.compile(r"\\(?:[uU][0-9a-fA-F]{4}|[nrtNRT\"'/\\])")
_ESCAPES = {"n": "\n", "r": "\n", "t": " ", '"': '"', "'": "'", "/": "/", "\\": "\\"}
_FLAG_TAGS = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]+")
_ZERO_WIDTH_RUN = re.compile(f"[{_ZERO_WIDTH}]{{3,}}")
_BIDI_CHAR = re.compile(f"[{_BIDI}]")
_HIDDEN_PREVIEW = 80


def normalize(text: str, *, leet: bool = True) -> str:
    """`text` folded for matching: see the module docstring for each rule."""
    if not text.isascii():
        text = _NON_ASCII.sub(_fold_match, text)
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
        if not text.isascii():
            text = _NON_ASCII.sub(_fold_match, text)
    if not text.isascii():
        return _normalize_unicode(text, leet=leet)
    raw = text.encode("ascii").translate(_ASCII_TABLE, _ASCII_DROP)
    raw = _collapse(raw)
    if leet:
        raw = _unleet(raw)
    return raw.decode("ascii")


def hidden_text(text: str) -> list[str]:
    """Why `text` hides content from a reader: smuggled tag text, zero-width runs, bidi controls."""
    if text.isascii():
        return []
    reasons = []
    payload = decode_tags(text)
    if payload:
        reasons.append(f"tag characters: {payload[:_HIDDEN_PREVIEW]!r}")
    runs = [len(match.group()) for match in _ZERO_WIDTH_RUN.finditer(text)]
    if runs:
        reasons.append(f"zero-width run: {len(runs)} run(s), longest {max(runs)} characters")
    bidi = len(_BIDI_CHAR.findall(text))
    if bidi:
        reasons.append(f"bidi controls: {bidi}")
    return reasons


def decode_tags(text: str) -> str:
    """The ASCII text spelled by Unicode tag characters in `text` (flag emoji excepted)."""
    if text.isascii():
        return ""
    text = _FLAG_TAGS.sub("", text)
    runs = _TAG_CHARS.findall(text)
    return " ".join(
        "".join(chr(ord(char) - 0xE0000) for char in run if 0xE0020 <= ord(char) <= 0xE007E)
        for run in runs
    ).strip()


def _unescape(match: re.Match[str]) -> str:
    escape = match.group()
    if escape[1] in "uU":
        code = int(escape[2:], 16)
        return escape if 0xD800 <= code <= 0xDFFF else chr(code)  # half a surrogate pair
    return _ESCAPES.get(escape[1].lower(), escape)


def _fold_match(match: re.Match[str]) -> str:
    return _fold(match.group())


@lru_cache(maxsize=4096)
def _fold(run: str) -> str:
    """One run of non-ASCII characters folded: invisible dropped, compatibility forms and
    accents folded, look-alike letters mapped to Latin, case folded."""
    run = _INVISIBLE.sub("", run).translate(_LINE_BREAKS)
    run = _MARKS.sub("", unicodedata.normalize("NFKD", run))
    run = run.translate(_CONFUSABLES).casefold()
    return run if run.isascii() else unicodedata.normalize("NFC", run)


def _normalize_unicode(text: str, *, leet: bool) -> str:
    """The slow path for text that stays non-ASCII after folding (other scripts, emoji)."""
    text = _INVISIBLE.sub("", text.lower())
    text = _SPACE_RUN.sub(" ", _BREAK_RUN.sub("\n", text)).strip()
    if leet:
        text = _LEET_TOKEN.sub(lambda match: _unleet_token(match.group()), text)
    return text


def _collapse(raw: bytes) -> bytes:
    """Every whitespace run as one space, or one newline when it holds a line break."""
    while True:  # `replace` scans faster than a regex for a pair of common characters
        single = raw.replace(b"  ", b" ")
        if len(single) == len(raw):
            break
        raw = single
    if b"\n" in raw:
        raw = _BREAK_TAIL.sub(b"\n", raw.replace(b" \n", b"\n"))
    return raw.strip()


def _unleet(raw: bytes) -> bytes:
    """Leetspeak undone in the tokens that mix letters and digits."""
    # sre scans fast only for a literal, so digits and letters become the literals 0 and a; a
    # token is a run of both. Only a digit run touching a letter can start a token to undo, and
    # most such tokens (`3rd`, `v2`, `x86`) have too few letters: they are judged on the class
    # string alone, without a Python loop over their bytes.
    classes = raw.translate(_CLASSES)
    mixed = _MIXED.search(classes)
    pieces: list[bytes] = []
    done = 0
    while mixed is not None:
        at = mixed.start()
        start = classes.rfind(b" ", 0, at) + 1
        end = classes.find(b" ", at)
        end = len(classes) if end < 0 else end
        letters = classes.count(b"a", start, end)
        if letters >= 3 and 2 * letters >= end - start:  # as `_unleet_token` decides
            pieces += (raw[done:start], raw[start:end].translate(_LEET_BYTES))
            done = end
        mixed = _MIXED.search(classes, end)
    if not pieces:
        return raw
    pieces.append(raw[done:])
    return b"".join(pieces)


def _unleet_token(token: str) -> str:
    letters = sum(char.isalpha() for char in token)
    if letters < 3 or letters < len(token) - letters:
        return token
    return token.translate(_LEET)
