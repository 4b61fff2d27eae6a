"""Webhook signatures: HMAC SHA-256 over "<t>." + body, checked against an independent
computation, and refused when the secret, the body or the time is wrong, or the header odd."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from agentdeck.tracing.alerts.signing import sign, verify

SECRET = "whsec_test-secret"
BODY = b'{"type":"alert.firing"}'
T = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"
    assert len(expected) == 64


def test_a_signature_verifies_within_the_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now=T) is True
    assert verify(SECRET, header, BODY, now=T + 300) is True
    assert verify(SECRET, header, BODY, now=T - 300) is True


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_other", BODY, T),  # another channel's secret
        (SECRET, BODY + b" ", T),  # the body changed
        (SECRET, BODY, T + 301),  # replayed too late
        (SECRET, BODY, T - 301),  # from the future
    ],
)
def test_a_wrong_secret_body_or_time_fails(secret: str, body: bytes, now: int) -> None:
    assert verify(secret, sign(SECRET, BODY, T), body, now=now) is False


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=notanumber,v1=abc", f"t={T}", f"t={T},v1=", f"t={T},v0=deadbeef"],
)
def test_a_malformed_header_fails(header: str) -> None:
    assert verify(SECRET, header, BODY, now=T) is False


def test_any_of_several_v1_values_may_match() -> None:
    good = sign(SECRET, BODY, T)
    assert verify(SECRET, f"t={T},v1={'0' * 64},{good.split(',')[1]}", BODY, now=T) is True
