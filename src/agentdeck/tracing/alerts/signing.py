"""Webhook signatures: HMAC SHA-256 over the timestamp and the body, so a receiver can check
that a delivery came from agentdeck, unchanged, and recently (a replay of an old one fails).

Header `X-Agentdeck-Signature: t=<unix seconds>,v1=<hex digest>`, where the digest is
HMAC-SHA256(secret, "<t>." + body). Several `v1=` values may appear (none today).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Agentdeck-Signature"
TOLERANCE_S = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body` sent now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, tolerance_s: int = TOLERANCE_S, now: int | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` seconds of now."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        at = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - at) > tolerance_s:
        return False
    expected = sign(secret, body, at).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
