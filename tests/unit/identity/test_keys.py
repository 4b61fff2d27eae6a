"""API keys: format, checksum that catches typos, hashing."""

from __future__ import annotations

import hashlib
import re
import zlib

import pytest

from agentdeck.errors import AuthenticationError
from agentdeck.identity.keys import ALPHABET, checksum, hash_key, new_key, parse_key


def test_format_and_parse() -> None:
    key = new_key("test")
    assert re.fullmatch(r"ad_test_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}", key)
    parsed = parse_key(key)
    assert parsed.env == "test"
    assert parsed.hash == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
    # the prefix, 4 of the 32 random characters and the checksum: enough to tell keys apart
    assert parsed.display == key[: len("ad_test_") + 4] + "..." + key[-6:]
    assert key[12:-7] not in parsed.display


def test_checksum_is_base62_crc32() -> None:
    body = "ad_live_" + "A" * 32
    number = 0
    for char in checksum(body):
        number = number * 62 + ALPHABET.index(char)
    assert number == zlib.crc32(body.encode())


def test_keys_are_unique() -> None:
    assert len({new_key() for _ in range(2000)}) == 2000


@pytest.mark.parametrize(
    ("mangle", "fragment"),
    [
        (lambda k: k[:-1], "malformed"),  # cut off
        (lambda k: k.replace("ad_", "sk_", 1), "malformed"),
        (lambda k: k + " ", "malformed"),
        (lambda k: k[:20] + ("x" if k[20] != "x" else "y") + k[21:], "checksum does not match"),
        (lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"), "checksum does not match"),
        (lambda k: k[:12] + k[13] + k[12] + k[14:], "checksum does not match"),  # swapped pair
    ],
)
def test_mistyped_keys_are_refused_before_any_lookup(mangle: object, fragment: str) -> None:
    key = new_key()
    while key[12] == key[13]:  # the swap must change something
        key = new_key()
    with pytest.raises(AuthenticationError) as caught:
        parse_key(mangle(key))  # type: ignore[operator]
    assert fragment in caught.value.message
    assert caught.value.status == 401


def test_bad_environment_names() -> None:
    for env in ("", "LIVE", "toolongname", "te st"):
        with pytest.raises(ValueError, match="1 to 8 lower-case letters"):
            new_key(env)
