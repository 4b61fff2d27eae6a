"""API keys: `ad_<env>_<random>_<checksum>`.

The fixed prefix lets secret scanners find leaked keys; the CRC32 checksum (base62, 6
characters) rejects a mistyped or truncated key before any lookup; the 32 random base62
characters carry about 190 bits. Only the SHA-256 of a key is stored (keys are random, so a
fast hash is enough) and a short display prefix; the key itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass

from agentdeck.errors import AuthenticationError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
_SHAPE = re.compile(r"^ad_([a-z]{1,8})_([0-9A-Za-z]{32})_([0-9A-Za-z]{6})$")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of `ad_<env>_<random>`."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A key whose shape and checksum are right: its environment, storage hash and display
    prefix. Whether it exists, is active and what it may do is for the store to say."""

    env: str
    hash: str
    display: str


def new_key(env: str = "live") -> str:
    """A fresh key for environment `env` (lower-case letters, at most 8)."""
    if not re.fullmatch(r"[a-z]{1,8}", env):
        raise ValueError("a key environment is 1 to 8 lower-case letters, e.g. live or test")
    body = f"ad_{env}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{body}_{checksum(body)}"


def hash_key(key: str) -> str:
    """What is stored of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def parse_key(key: str) -> ParsedKey:
    """Check a presented key's shape and checksum; 401 naming the problem, before any lookup."""
    found = _SHAPE.match(key)
    if found is None:
        raise AuthenticationError(
            "malformed API key: expected ad_<env>_<32 characters>_<6 characters>"
        )
    env, random_part, given = found.groups()
    body = f"ad_{env}_{random_part}"
    if not secrets.compare_digest(checksum(body), given):
        raise AuthenticationError("API key checksum does not match: is it mistyped or cut off?")
    # Display: the prefix, 4 random characters and the checksum, never enough to use.
    shown = body[: len(f"ad_{env}_") + 4]
    return ParsedKey(env=env, hash=hash_key(key), display=f"{shown}...{given}")
