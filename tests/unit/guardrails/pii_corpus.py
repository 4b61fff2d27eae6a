"""A seeded, labelled corpus for the PII detector (a generator, not a test module).

`positives` are sentences holding one sensitive value of a known kind, in varied formats and
positions; `lookalikes` are sentences holding something that looks like one (order numbers,
dates, versions, ids, hashes, prices, tracking numbers, ...) and no personal data or secret.
Cards carry a correct Luhn digit, IBANs computed check digits, SSNs valid areas, phone numbers
their country's length.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from agentdeck.guardrails.pii import iban_ok, luhn_ok
from agentdeck.identity.keys import ALPHABET, checksum

DIGITS, UPPER, LOWER = string.digits, string.ascii_uppercase, string.ascii_lowercase
ALNUM = string.ascii_letters + DIGITS
HEXDIGITS = "0123456789abcdef"
Maker = Callable[[random.Random], str]


@dataclass(frozen=True)
class Item:
    """One sentence: the value in it, its kind (None for a look-alike) and its category."""

    text: str
    value: str
    kind: str | None
    category: str
    expected: str = ""  # the text with the value replaced by its placeholder, when set


def pick(rng: random.Random, alphabet: str, size: int) -> str:
    """`size` characters drawn from `alphabet`."""
    return "".join(rng.choice(alphabet) for _ in range(size))


def luhn_complete(rng: random.Random, prefix: str, size: int) -> str:
    """A `size`-digit number starting with `prefix` whose last digit makes Luhn pass."""
    body = prefix + pick(rng, DIGITS, size - len(prefix) - 1)
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


def _fill(rng: random.Random, template: str) -> str:
    """`{n}` -> n random digits, `{a}` -> a North American area or exchange code."""
    out = []
    for index, part in enumerate(template.replace("}", "{").split("{")):
        if index % 2 == 0:
            out.append(part)
        elif part == "a":
            out.append(rng.choice("23456789") + rng.choice("0245678") + rng.choice(DIGITS))
        else:
            out.append(rng.choice("123456789") + pick(rng, DIGITS, int(part) - 1))
    return "".join(out)


# --- positives --------------------------------------------------------------------------------

_FIRST = ["anna", "bob", "carla", "dmitri", "eve", "fatima", "li", "jose", "ola", "kwame", "yuki"]
_LAST = ["smith", "garcia", "ng", "okafor", "muller", "rossi", "kim", "dubois", "haddad", "silva"]
_DOMAINS = [
    "acme.com", "example.org", "globex.io", "mail.example.co.uk", "uni-bonn.de", "hooli.dev",
    "sub.domain.example.com.au", "post.fr", "initech.net", "x.museum",
]  # fmt: skip


def _email(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = rng.choice([
        f"{first}.{last}", f"{first}+{rng.choice(['news', 'billing', 'x'])}", f"{first[0]}_{last}",
        f"{first}{rng.randrange(100)}", f"{last}-{first}", f"{first.capitalize()}.{last.upper()}",
        f"{first}.{last}.{rng.randrange(1990, 2010)}",
    ])  # fmt: skip
    domain = rng.choice(_DOMAINS)
    return f"{local}@{domain.upper() if rng.random() < 0.1 else domain}"


_PHONE_FORMATS = [
    "+1 {a} {a} {4}", "+1-{a}-{a}-{4}", "+1 ({a}) {a}-{4}", "+1{a}{a}{4}", "+1.{a}.{a}.{4}",
    "+44 20 {4} {4}", "+44 7{3} {6}", "+44 (0)20 {4} {4}", "+44 161 {3} {4}", "0044 20 {4} {4}",
    "+447{9}", "+49 30 {8}", "+49 151 {8}", "+49 (0)30 {8}", "+49 89 {7}", "0049 30 {8}",
    "+4915{9}", "+33 1 {2} {2} {2} {2}", "+33 6 {2} {2} {2} {2}", "0033 6 {2} {2} {2} {2}",
    "+33{9}", "+81 3 {4} {4}", "+81 90 {4} {4}", "+81-3-{4}-{4}", "+61 2 {4} {4}",
    "+61 4{2} {3} {3}", "+91 9{4} {5}", "+91-9{9}", "+55 11 9{4} {4}", "+55 (11) 9{4}-{4}",
    "+31 6 {8}", "+31 20 {3} {4}", "+46 8 {3} {3} {2}", "+46 70 {3} {2} {2}", "+34 6{2} {3} {3}",
    "+39 06 {4} {4}", "+39 3{2} {3} {4}", "+86 10 {4} {4}", "+86 1{2} {4} {4}", "+353 1 {3} {4}",
    "+972 5{1} {3} {4}", "+7 495 {3}-{2}-{2}", "+7 9{2} {3} {2} {2}",
    # national formats
    "({a}) {a}-{4}",
    "{a}-{a}-{4}", "{a}.{a}.{4}", "1-{a}-{a}-{4}", "020 {4} {4}", "0161 {3} {4}", "07{3} {6}",
    "030 {8}", "089 {7}", "06 {2} {2} {2} {2}", "01.{2}.{2}.{2}.{2}",
]  # fmt: skip


def _phone(rng: random.Random) -> str:
    return _fill(rng, rng.choice(_PHONE_FORMATS))


def _grouped(number: str, sizes: list[int], separator: str) -> str:
    groups, start = [], 0
    for size in sizes:
        groups.append(number[start : start + size])
        start += size
    return separator.join(groups)


def _card(rng: random.Random) -> str:
    prefix, size = rng.choice([
        ("4", 16), ("4", 19), (str(rng.randrange(51, 56)), 16),
        (str(rng.randrange(2221, 2721)), 16), (rng.choice(["34", "37"]), 15), ("6011", 16),
        ("65", 16), (str(rng.randrange(644, 650)), 16), ("36", 14),
        (str(rng.randrange(3528, 3590)), 16), ("62", 16), ("62", 19),
    ])  # fmt: skip
    number = luhn_complete(rng, prefix, size)
    sizes = {15: [4, 6, 5], 14: [4, 6, 4], 19: [4, 4, 4, 4, 3]}.get(size, [4, 4, 4, 4])
    return _grouped(number, sizes, rng.choice(["", " ", " ", "-"]))


# BBAN layouts: (count, alphabet) runs, as the IBAN registry lists them.
_N, _A, _C = DIGITS, UPPER, UPPER + DIGITS
_BBANS = {
    "DE": [(18, _N)], "GB": [(4, _A), (14, _N)], "FR": [(10, _N), (11, _C), (2, _N)],
    "ES": [(20, _N)], "IT": [(1, _A), (10, _N), (12, _C)], "NL": [(4, _A), (10, _N)],
    "BE": [(12, _N)], "CH": [(5, _N), (12, _C)], "AT": [(16, _N)], "PL": [(24, _N)],
    "SE": [(20, _N)], "NO": [(11, _N)], "DK": [(14, _N)], "FI": [(14, _N)], "PT": [(21, _N)],
    "IE": [(4, _A), (14, _N)], "LU": [(3, _N), (13, _C)], "CZ": [(20, _N)], "HU": [(24, _N)],
    "RO": [(4, _A), (16, _C)], "HR": [(17, _N)], "LT": [(16, _N)], "GR": [(7, _N), (16, _C)],
    "MT": [(4, _A), (5, _N), (18, _C)], "SA": [(2, _N), (18, _C)], "AE": [(19, _N)],
    "TR": [(5, _N), (1, _N), (16, _C)], "BR": [(23, _N), (1, _A), (1, _C)],
}  # fmt: skip


def iban_with_check(country: str, bban: str) -> str:
    """The compact IBAN of `bban`, with its mod-97 check digits computed."""
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_BBANS))
    compact = iban_with_check(country, "".join(pick(rng, a, n) for n, a in _BBANS[country]))
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def _ip(rng: random.Random) -> str:
    groups = [f"{rng.randrange(1, 0x10000):x}" for _ in range(8)]
    cut = rng.randrange(1, 6)
    return rng.choice([
        ".".join(str(rng.randrange(1, 255)) for _ in range(4)),
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}", ":".join(groups),
        ":".join(groups).upper(), ":".join(groups[:cut]) + "::" + ":".join(groups[cut + 2 :]),
        f"2001:db8::{groups[7]}", f"fe80::{groups[4]}:{groups[5]}:{groups[6]}:{groups[7]}", "::1",
        f"::ffff:192.0.2.{rng.randrange(1, 255)}",
    ])  # fmt: skip


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    header = _b64url(
        rng.choice(
            [{"alg": "HS256", "typ": "JWT"}, {"alg": "RS256", "kid": pick(rng, HEXDIGITS, 8)}]
        )
    )
    payload = _b64url(
        {
            "sub": str(rng.randrange(10**9)),
            "name": rng.choice(_FIRST),
            "iat": rng.randrange(1_600_000_000, 1_800_000_000),
        }
    )
    return f"{header}.{payload}.{pick(rng, ALNUM + '-_', rng.choice([43, 86, 342]))}"


def _pem(rng: random.Random) -> str:
    label = rng.choice([
        "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ])  # fmt: skip
    body = pick(rng, ALNUM + "+/", 64 * rng.randrange(3, 26))
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}==\n-----END {label}-----"


def _secret(rng: random.Random) -> str:
    agentdeck = f"ad_{rng.choice(['live', 'test'])}_{pick(rng, ALPHABET, 32)}"
    return rng.choice([
        "sk-" + pick(rng, ALNUM, 48), "sk-proj-" + pick(rng, ALNUM + "_-", 64),
        "sk-svcacct-" + pick(rng, ALNUM + "_-", 80),
        "sk-ant-api03-" + pick(rng, ALNUM + "_-", 93) + "AA",
        "sk-ant-admin01-" + pick(rng, ALNUM + "_-", 80), "AKIA" + pick(rng, UPPER + "234567", 16),
        "ASIA" + pick(rng, UPPER + "234567", 16), "ghp_" + pick(rng, ALNUM, 36),
        "gho_" + pick(rng, ALNUM, 36), "ghs_" + pick(rng, ALNUM, 36),
        f"github_pat_{pick(rng, ALNUM, 22)}_{pick(rng, ALNUM, 59)}",
        f"xoxb-{pick(rng, DIGITS, 12)}-{pick(rng, DIGITS, 13)}-{pick(rng, ALNUM, 24)}",
        f"xoxp-{pick(rng, DIGITS, 12)}-{pick(rng, DIGITS, 12)}-"
        f"{pick(rng, DIGITS, 13)}-{pick(rng, HEXDIGITS, 32)}",
        "AIza" + pick(rng, ALNUM + "_-", 35), "sk_live_" + pick(rng, ALNUM, 99),
        "rk_live_" + pick(rng, ALNUM, 24), "pk_live_" + pick(rng, ALNUM, 24),
        "sk_test_" + pick(rng, ALNUM, 24), "glpat-" + pick(rng, ALNUM + "_-", 20),
        "npm_" + pick(rng, ALNUM, 36), "hf_" + pick(rng, string.ascii_letters, 34),
        f"{agentdeck}_{checksum(agentdeck)}", _jwt(rng), _pem(rng),
    ])  # fmt: skip


def _entropy(rng: random.Random) -> str:
    return rng.choice([
        pick(rng, ALNUM, rng.randrange(32, 65)), pick(rng, ALNUM + "+/", 40),
        pick(rng, ALNUM + "-_", 43), pick(rng, ALNUM, 40) + "==",
    ])  # fmt: skip


def _labelled_hex(rng: random.Random) -> str:
    return pick(rng, HEXDIGITS, rng.choice([32, 40, 64]))


POSITIVES: dict[str, tuple[list[Maker], list[str]]] = {
    "EMAIL": (
        [_email],
        [
            "Contact me at {v} please.",
            "From: {v}",
            "reply to <{v}>",
            "the user {v} asked",
            "{v} wrote:",
            "mailto:{v}",
            '{{"email": "{v}"}}',
            "cc: {v}, bcc: nobody",
            "({v})",
            "Send the invoice to {v}\nThanks",
        ],
    ),
    "PHONE": (
        [_phone],
        [
            "call me on {v}",
            "Phone: {v}",
            "tel:{v}",
            "reach the desk at {v} tomorrow",
            "{v} (mobile)",
            "Contact: {v}; email preferred",
            "My number is {v}.",
            '{{"phone": "{v}"}}',
            "{v}",
            "Fax {v}, ask for Jo",
        ],
    ),
    "CARD": (
        [_card],
        [
            "card {v}",
            "Card number: {v}, expires 09/27",
            "charged to {v}.",
            "Card: {v} 09/27",
            "pay with {v} (visa)",
            '{{"pan": "{v}"}}',
            "cc={v}&exp=0927",
            "{v}",
            "My card is {v}; the CVV is 123.",
        ],
    ),
    "IBAN": (
        [_iban],
        [
            "IBAN: {v}",
            "Please wire the deposit to {v} by Friday.",
            "account {v} (main)",
            "IBAN {v} BIC DEUTDEFFXXX",
            "pay {v}, ref INV-2291",
            "{v} EUR 500",
            "Bank details: {v}\nBIC: BNPAFRPP",
        ],
    ),
    "SSN": (
        [_ssn],
        [
            "SSN {v}",
            "social security number: {v}.",
            "ssn={v}",
            "My SSN is {v}, born 1984.",
            "({v})",
            '{{"ssn": "{v}"}}',
        ],
    ),
    "IP": (
        [_ip],
        [
            "client ip {v}",
            "connect to {v} on port 22",
            "X-Forwarded-For: {v}",
            "from {v}.",
            "ssh admin at {v}",
            "peer {v} disconnected",
            '{{"remote_addr": "{v}"}}',
            "[{v}] timed out",
        ],
    ),
    "SECRET": (
        [_secret],
        [
            "OPENAI_API_KEY={v}",
            "Authorization: Bearer {v}",
            "my key is {v}, keep it safe",
            '{{"api_key": "{v}"}}',
            "export TOKEN='{v}'",
            "--header 'x-api-key: {v}'",
            "key:\n{v}\n",
        ],
    ),
    "HIGH_ENTROPY": (
        [_entropy],
        [
            "client_secret={v}",
            '{{"secret": "{v}"}}',
            "AWS_SECRET_ACCESS_KEY={v}",
            "use {v} as the signing key",
            "session cookie {v} expired",
        ],
    ),
}
# Hex strings count as secrets only behind a label that says so.
_LABELLED_HEX = ["api_key={v}", "secret: {v}", "Authorization: Bearer {v}", '"password": "{v}"']


def positives(seed: int = 20240611, per_kind: int = 200) -> list[Item]:
    """`per_kind` sentences for each kind, each holding one value of that kind."""
    rng = random.Random(seed)
    items = []
    for kind, (makers, templates) in POSITIVES.items():
        for index in range(per_kind):
            if kind == "HIGH_ENTROPY" and index % 4 == 3:
                value, template = _labelled_hex(rng), rng.choice(_LABELLED_HEX)
            else:
                value, template = rng.choice(makers)(rng), rng.choice(templates)
            items.append(Item(template.format(v=value), value, kind, kind))
    return items


# --- look-alikes ----------------------------------------------------------------------------


def _order(rng: random.Random) -> str:
    return rng.choice([
        f"ORD-2024-{pick(rng, DIGITS, 6)}", f"#{rng.randrange(10_000, 99_999_999)}",
        f"order {rng.randrange(1, 10)}{pick(rng, DIGITS, rng.randrange(6, 10))}",
        f"{pick(rng, DIGITS, 3)}-{pick(rng, DIGITS, 7)}-{pick(rng, DIGITS, 7)}",
        f"PO-{pick(rng, DIGITS, 5)}", f"SO{pick(rng, DIGITS, 8)}",
    ])  # fmt: skip


def _date(rng: random.Random) -> str:
    y, mo, d = rng.randrange(2000, 2030), rng.randrange(1, 13), rng.randrange(1, 29)
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return rng.choice([
        f"{y}-{mo:02d}-{d:02d}", f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.123Z",
        f"{mo:02d}/{d:02d}/{y}", f"{d:02d}.{mo:02d}.{y} {h:02d}:{mi:02d}",
        f"{y}{mo:02d}{d:02d}-{h:02d}{mi:02d}{s:02d}",
        f"Mon, {d:02d} Mar {y} {h:02d}:{mi:02d}:{s:02d} +0000",
        f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}+01:00", f"{d} March {y}",
    ])  # fmt: skip


def _time(rng: random.Random) -> str:
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return rng.choice([
        f"{h:02d}:{mi:02d}:{s:02d}", f"{h:02d}:{mi:02d}:{s:02d}.{rng.randrange(1000):03d}",
        str(rng.randrange(1_600_000_000_000, 1_800_000_000_000)),
        str(rng.randrange(1_600_000_000, 1_800_000_000)),
        f"{rng.randrange(1, 60)}m{rng.randrange(60)}s", f"{h}h{mi:02d}",
    ])  # fmt: skip


def _version(rng: random.Random) -> str:
    n = rng.randrange
    return rng.choice([
        f"v{n(0, 20)}.{n(0, 40)}.{n(0, 100)}", f"{n(1, 5)}.{n(0, 20)}.{n(0, 20)}-beta.{n(1, 9)}",
        f"Python 3.{n(8, 14)}.{n(0, 20)}", f"Chrome/{n(100, 130)}.0.{n(5000, 7000)}.{n(50, 250)}",
        f"version {n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 10)}",
        f"v{n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 10)}",
        f"build 10.0.{n(10000, 22000)}.{n(1, 4000)}", f"node v{n(14, 23)}.{n(0, 20)}.{n(0, 10)}",
        f"{n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 10)} or later",
        f"firmware {n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 99)}",
    ])  # fmt: skip


def _identifier(rng: random.Random) -> str:
    return rng.choice([
        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        str(uuid.UUID(int=rng.getrandbits(128))).upper(), "trace " + pick(rng, HEXDIGITS, 32),
        "span " + pick(rng, HEXDIGITS, 16), "req_" + pick(rng, ALNUM, 24),
        "01" + pick(rng, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24),
        "chatcmpl-" + pick(rng, ALNUM, 29), "msg_01" + pick(rng, ALNUM, 22),
        "cus_" + pick(rng, ALNUM, 14), "pi_3" + pick(rng, ALNUM, 23),
        "ObjectId(" + pick(rng, HEXDIGITS, 24) + ")", str(rng.randrange(10**18, 2 * 10**18)),
        "toolu_01" + pick(rng, ALNUM, 22), "file-" + pick(rng, ALNUM, 24),
    ])  # fmt: skip


def _git_sha(rng: random.Random) -> str:
    sha = pick(rng, HEXDIGITS, 40)
    return rng.choice([
        f"commit {sha}", f"git checkout {sha[:7]}", f"merged {sha} into main", f"sha: {sha}",
        f"revert {sha}", f"({sha[:12]})",
    ])  # fmt: skip


def _hash(rng: random.Random) -> str:
    return rng.choice([
        f"sha256: {pick(rng, HEXDIGITS, 64)}", f"md5 {pick(rng, HEXDIGITS, 32)}",
        f"checksum {pick(rng, HEXDIGITS, 64)}", f"digest sha256:{pick(rng, HEXDIGITS, 64)}",
        f'ETag: "{pick(rng, HEXDIGITS, 32)}"', f'integrity="sha384-{pick(rng, ALNUM + "+/", 64)}"',
        f"SHA-1 {pick(rng, HEXDIGITS, 40)}", f"image@sha256:{pick(rng, HEXDIGITS, 64)}",
    ])  # fmt: skip


def _price(rng: random.Random) -> str:
    return rng.choice([
        f"${rng.randrange(1, 99)},{rng.randrange(1000):03d}.{rng.randrange(100):02d}",
        f"€ {rng.randrange(1, 999)},{rng.randrange(100):02d}",
        f"USD {rng.randrange(1, 99)},{rng.randrange(1000):03d}.00",
        f"{rng.randrange(1, 9)}.{rng.randrange(1000):03d},{rng.randrange(100):02d} €",
        f"£{rng.randrange(1, 99)}.50",
        f"+{rng.randrange(1, 40)}.{rng.randrange(10)}% week over week",
        f"-{rng.randrange(1, 9)}.{rng.randrange(10)}%", f"{rng.randrange(1, 10**6)} tokens",
    ])  # fmt: skip


def _isbn(rng: random.Random) -> str:
    body = "978" + pick(rng, DIGITS, 9)
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
    isbn = body + str(check)
    return rng.choice([
        f"ISBN {isbn}", f"ISBN {isbn[:3]}-{isbn[3]}-{isbn[4:6]}-{isbn[6:12]}-{isbn[12]}",
        f"ISBN 0-{pick(rng, DIGITS, 3)}-{pick(rng, DIGITS, 5)}-{rng.choice(DIGITS)}",
        f"ISBN-10 0{pick(rng, DIGITS, 9)}",
    ])  # fmt: skip


def _tracking(rng: random.Random) -> str:
    return rng.choice([
        f"1Z{pick(rng, UPPER + DIGITS, 6)}{pick(rng, DIGITS, 10)}",
        "9400 " + " ".join(pick(rng, DIGITS, 4) for _ in range(4)) + " " + pick(rng, DIGITS, 2),
        "94001" + pick(rng, DIGITS, 17), f"7{pick(rng, DIGITS, 11)}",
        f"7489 {pick(rng, DIGITS, 4)} {pick(rng, DIGITS, 4)}", f"JD01{pick(rng, DIGITS, 16)}",
        f"{pick(rng, UPPER, 2)}{pick(rng, DIGITS, 9)}GB",
    ])  # fmt: skip


def _invoice(rng: random.Random) -> str:
    return rng.choice([
        f"INV-2024-{pick(rng, DIGITS, 4)}", f"Invoice #2024-{pick(rng, DIGITS, 5)}",
        f"INV/2024/{rng.randrange(1, 13):02d}/{pick(rng, DIGITS, 4)}", f"RE-{pick(rng, DIGITS, 6)}",
        f"case {pick(rng, DIGITS, 3)}-{pick(rng, DIGITS, 2)}-{pick(rng, DIGITS, 3)}",
    ])  # fmt: skip


def _short_number(rng: random.Random) -> str:
    return rng.choice([
        f"ext. {pick(rng, DIGITS, 4)}", f"x{pick(rng, DIGITS, 4)}", "dial 9 for an outside line",
        f"room {rng.randrange(1, 9)}-{pick(rng, DIGITS, 3)}", f"call 555-{pick(rng, DIGITS, 4)}",
        f"extension {pick(rng, DIGITS, 5)}", f"PIN {pick(rng, DIGITS, 4)}",
        f"support line 0800 {pick(rng, DIGITS, 3)}",
        f"ticket {rng.randrange(1, 10)}{pick(rng, DIGITS, 5)}",
    ])  # fmt: skip


def _luhn_failing(rng: random.Random) -> str:
    number = luhn_complete(rng, "4", 16)
    wrong = number[:-1] + str((int(number[-1]) + rng.randrange(1, 10)) % 10)
    return rng.choice([
        wrong, " ".join(wrong[i : i + 4] for i in range(0, 16, 4)), luhn_complete(rng, "1", 16),
        luhn_complete(rng, rng.choice("789"), 16), luhn_complete(rng, "4", 13),
        luhn_complete(rng, "35", 15),
    ])  # fmt: skip


def _ssn_like(rng: random.Random) -> str:
    return rng.choice([
        f"000-{pick(rng, DIGITS, 2)}-{pick(rng, DIGITS, 4)}",
        f"666-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}",
        f"9{pick(rng, DIGITS, 2)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}",
        f"{rng.randrange(100, 900)}-00-{rng.randrange(1000, 9999)}",
        f"SKU {rng.randrange(100, 900)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}X",
        f"{rng.randrange(100, 900)}-{rng.randrange(10, 99)}-"
        f"{rng.randrange(1000, 9999)}-{rng.randrange(10, 99)}",
    ])  # fmt: skip


def _code_and_paths(rng: random.Random) -> str:
    return rng.choice([
        "/var/log/nginx/access.log.1",
        f"https://example.com/orders/{rng.randrange(10**7, 10**8)}?page=2",
        "C:\\Users\\bob\\AppData\\Local", "AbstractSingletonProxyFactoryBean",
        "getUserAccountSettingsByIdV2Handler", "org.apache.commons.lang3.StringUtils",
        f"#{pick(rng, 'abcdef0123456789', 6)}", "rgba(0,0,0,0.5)", "x86_64-unknown-linux-gnu",
        "std::vector<int>", "foo::bar::Baz", "@octocat", "lodash@4.17.21", "user@localhost",
        "git@github.com:org/repo.git", "name at example dot com", "MAC 00:1A:2B:3C:4D:5E",
        f"SN: C02{pick(rng, UPPER + DIGITS, 9)}",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        f"37.{pick(rng, DIGITS, 4)}, -122.{pick(rng, DIGITS, 4)}",
        f"{rng.randrange(1, 9)}.{pick(rng, DIGITS, 5)}", "x = 42 * 7", "6.022e23", "localhost:8080",
        "HTTP/1.1 404",
    ])  # fmt: skip


def _postal(rng: random.Random) -> str:
    return rng.choice([
        f"{pick(rng, DIGITS, 5)}-{pick(rng, DIGITS, 4)}", "SW1A 1AA",
        f"75{pick(rng, DIGITS, 3)} Paris", f"D02 X{pick(rng, DIGITS, 3)}",
        f"{pick(rng, DIGITS, 5)}",
    ])  # fmt: skip


def _barcode(rng: random.Random) -> str:
    body = rng.choice(["400", "500", "590", "978", "871"]) + pick(rng, DIGITS, 9)
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
    imei = luhn_complete(rng, rng.choice(["35", "86", "01"]), 15)
    return rng.choice([
        f"EAN {body}{check}", f"barcode {body}{check}", f"IMEI {imei}",
        f"IMEI {imei[:2]}-{imei[2:8]}-{imei[8:14]}-{imei[14]}",
    ])  # fmt: skip


LOOKALIKES: dict[str, tuple[Maker, list[str]]] = {
    "order number": (_order, ["Your {v} has shipped.", "re: {v}", "refund for {v} approved"]),
    "date": (_date, ["created {v}", "at {v} the job ran", "due {v}"]),
    "time": (_time, ["took {v}", "started at {v}", "elapsed: {v}"]),
    "version": (_version, ["upgraded to {v}", "running {v}", "requires {v}"]),
    "identifier": (_identifier, ["id {v}", "{v} failed", "see {v}"]),
    "git sha": (_git_sha, ["{v}", "fixed in {v}.", "see {v} for details"]),
    "hash": (_hash, ["{v}", "verify {v}", "expected {v}"]),
    "price": (_price, ["total {v}", "it costs {v}", "{v} in total"]),
    "isbn": (_isbn, ["{v}", "the book ({v})", "order {v} from the library"]),
    "tracking number": (_tracking, ["tracking {v}", "parcel {v} delivered", "shipment: {v}"]),
    "invoice": (_invoice, ["{v}", "paid {v}", "see {v} attached"]),
    "short number": (_short_number, ["{v}", "please {v}", "note: {v}"]),
    "luhn failing digits": (_luhn_failing, ["ref {v}", "number {v}", "code: {v}"]),
    "ssn-like": (_ssn_like, ["{v}", "ref {v}", "case file {v}"]),
    "code and paths": (_code_and_paths, ["{v}", "see {v}", "`{v}`"]),
    "postal code": (_postal, ["{v}", "address: 1 Main St, {v}", "zip {v}"]),
    "barcode": (_barcode, ["{v}", "scan {v}", "label: {v}"]),
}  # fmt: skip


def lookalikes(seed: int = 20240612, per_category: int = 70) -> list[Item]:
    """`per_category` sentences for each look-alike category, none holding PII."""
    rng = random.Random(seed)
    items = []
    for category, (make, templates) in LOOKALIKES.items():
        for _ in range(per_category):
            value = make(rng)
            items.append(Item(rng.choice(templates).format(v=value), value, None, category))
    return items


# --- the corpus of the old tracing redactor, kept as it was (same seed, same draws) ----------
# Measured against `agentdeck.tracing.redaction` it gave recall 0.8695 and a false-positive rate
# of 5.15%; an item counts as found only when the whole redacted text is right.


def _old_email(rng: random.Random) -> str:
    first = rng.choice(["anna", "bob", "carla", "dmitri", "eve", "fatima", "li", "jose", "ola"])
    last = rng.choice(["smith", "garcia", "ng", "okafor", "muller", "rossi", "kim", "dubois"])
    return rng.choice([
        f"{first}.{last}@{rng.choice(['acme', 'example', 'globex'])}.com",
        f"{first}+{rng.choice(['news', 'billing', 'x'])}@mail.example.org",
        f"{first[0]}_{last}{rng.randrange(100)}@eu.{rng.choice(['hooli', 'umbrella'])}.co.uk",
        f"{first.capitalize()}.{last.upper()}@Example.COM",
    ])  # fmt: skip


def _old_secret(rng: random.Random) -> str:
    agentdeck = f"ad_live_{pick(rng, ALPHABET, 32)}"
    return rng.choice([
        "sk-" + pick(rng, ALNUM, 48), "sk-proj-" + pick(rng, ALNUM + "_-", 64),
        "sk-ant-api03-" + pick(rng, ALNUM + "_-", 93) + "AA",
        "AKIA" + pick(rng, UPPER + DIGITS, 16), "ghp_" + pick(rng, ALNUM, 36),
        f"xoxb-{pick(rng, DIGITS, 12)}-{pick(rng, DIGITS, 13)}-{pick(rng, ALNUM, 24)}",
        "AIza" + pick(rng, ALNUM + "_-", 35), f"{agentdeck}_{checksum(agentdeck)}",
    ])  # fmt: skip


# BBAN layouts: (count, alphabet) runs, as the IBAN registry lists them.
_old_bbans = {
    "DE": [(18, DIGITS)], "GB": [(4, UPPER), (14, DIGITS)],
    "FR": [(10, DIGITS), (11, UPPER + DIGITS), (2, DIGITS)], "ES": [(20, DIGITS)],
    "IT": [(1, UPPER), (10, DIGITS), (12, UPPER + DIGITS)], "NL": [(4, UPPER), (10, DIGITS)],
    "BE": [(12, DIGITS)], "CH": [(5, DIGITS), (12, UPPER + DIGITS)], "AT": [(16, DIGITS)],
    "PL": [(24, DIGITS)], "SE": [(20, DIGITS)],
}  # fmt: skip


def _old_iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_old_bbans))
    bban = "".join(pick(rng, alphabet, count) for count, alphabet in _old_bbans[country])
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    compact = f"{country}{check:02d}{bban}"
    assert iban_ok(compact)
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _old_luhn_number(rng: random.Random, prefix: str, size: int) -> str:
    body = prefix + pick(rng, DIGITS, size - len(prefix) - 1)
    return next(body + d for d in DIGITS if luhn_ok(body + d))


def _old_card(rng: random.Random) -> str:
    number = rng.choice([
        _old_luhn_number(rng, "4", 16), _old_luhn_number(rng, "5" + rng.choice("12345"), 16),
        _old_luhn_number(rng, rng.choice(["34", "37"]), 15), _old_luhn_number(rng, "6011", 16),
    ])  # fmt: skip
    sizes = [4, 6, 5] if len(number) == 15 else [4, 4, 4, 4]
    starts = [sum(sizes[:n]) for n in range(len(sizes))]
    groups = [number[start : start + size] for start, size in zip(starts, sizes, strict=True)]
    return rng.choice(["", " ", "-"]).join(groups)


def _old_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


# International numbers as written (E.123); {n} is n random digits.
_old_phones = [
    "+1 {3} {3} {4}", "+1-{3}-{3}-{4}", "+1 ({3}) {3}-{4}", "+1{3}{3}{4}", "+44 20 {4} {4}",
    "+44 7{3} {6}", "+49 30 {8}", "+49 151 {8}", "+33 1 {2} {2} {2} {2}", "+33 6 {2} {2} {2} {2}",
    "+81 3 {4} {4}", "+81 90 {4} {4}", "+61 2 {4} {4}", "+61 4{2} {3} {3}", "+91 9{4} {5}",
    "+55 11 9{4} {4}", "+31 6 {8}",
]  # fmt: skip


def _old_phone(rng: random.Random) -> str:
    parts = rng.choice(_old_phones).replace("}", "{").split("{")
    return "".join(pick(rng, DIGITS, int(p)) if p.isdigit() else p for p in parts)


def _old_ip(rng: random.Random) -> str:
    groups = [f"{rng.randrange(1, 0x10000):x}" for _ in range(8)]
    return rng.choice([
        ".".join(str(rng.randrange(1, 255)) for _ in range(4)), ":".join(groups),
        f"2001:db8:{groups[2]}::{groups[6]}:{groups[7]}",  # RFC 5952's canonical form
    ])  # fmt: skip


OLD_POSITIVES: dict[str, tuple[Maker, list[str]]] = {
    "EMAIL": (
        _old_email,
        ["Contact me at {v} please.", "From: {v}", "reply to <{v}>", "the user {v} asked"],
    ),
    "SECRET": (
        _old_secret,
        [
            "OPENAI_API_KEY={v}",
            "Authorization: Bearer {v}",
            "my key is {v}, keep it safe",
            '{{"api_key": "{v}"}}',
        ],
    ),
    "IBAN": (
        _old_iban,
        [
            "IBAN: {v}",
            "Please wire the deposit to {v} by Friday.",
            "account {v} (main)",
            "IBAN {v} BIC DEUTDEFFXXX",
            "pay {v}, ref INV-2291",
        ],
    ),
    "CARD": (
        _old_card,
        ["card {v}", "Card number: {v}, expires 09/27", "charged to {v}.", "Card: {v} 09/27"],
    ),
    "SSN": (_old_ssn, ["SSN {v}", "social security number: {v}.", "ssn={v}"]),
    "PHONE": (
        _old_phone,
        ["call me on {v}", "Phone: {v}", "tel:{v}", "reach the desk at {v} tomorrow"],
    ),
    "IP": (
        _old_ip,
        ["client ip {v}", "connect to {v} on port 22", "X-Forwarded-For: {v}", "from {v}."],
    ),
}


def _old_order(rng: random.Random) -> str:
    return rng.choice([
        f"ORD-2024-{pick(rng, DIGITS, 6)}", f"#{rng.randrange(10_000, 99_999_999)}",
        f"order {rng.randrange(1, 10)}{pick(rng, DIGITS, rng.randrange(6, 10))}",
        f"{pick(rng, DIGITS, 3)}-{pick(rng, DIGITS, 7)}-{pick(rng, DIGITS, 7)}",
    ])  # fmt: skip


def _old_date(rng: random.Random) -> str:
    y, mo, d = rng.randrange(2000, 2030), rng.randrange(1, 13), rng.randrange(1, 29)
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return rng.choice([
        f"{y}-{mo:02d}-{d:02d}", f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.123Z",
        f"{mo:02d}/{d:02d}/{y}", f"{d:02d}.{mo:02d}.{y} {h:02d}:{mi:02d}",
        f"{y}{mo:02d}{d:02d}-{h:02d}{mi:02d}{s:02d}",
    ])  # fmt: skip


def _old_version(rng: random.Random) -> str:
    n = rng.randrange
    return rng.choice([
        f"v{n(0, 20)}.{n(0, 40)}.{n(0, 100)}", f"{n(1, 5)}.{n(0, 20)}.{n(0, 20)}-beta.{n(1, 9)}",
        f"Python 3.{n(8, 14)}.{n(0, 20)}", f"Chrome/{n(100, 130)}.0.{n(5000, 7000)}.{n(50, 250)}",
        f"{n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 10)}",  # .NET assembly versions
    ])  # fmt: skip


def _old_identifier(rng: random.Random) -> str:
    return rng.choice([
        str(uuid.UUID(int=rng.getrandbits(128), version=4)), pick(rng, "0123456789abcdef", 32),
        pick(rng, "0123456789abcdef", 40), "req_" + pick(rng, ALNUM, 24),
        "01" + pick(rng, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24),
    ])  # fmt: skip


def _old_number(rng: random.Random) -> str:
    return rng.choice([
        str(rng.randrange(1_600_000_000_000, 1_800_000_000_000)),  # Unix time in ms
        str(rng.randrange(1_600_000_000, 1_800_000_000)),
        f"${rng.randrange(1, 99)},{rng.randrange(1000):03d}.{rng.randrange(100):02d}",
        f"{rng.randrange(1, 10**6)} tokens", f"localhost:{rng.randrange(1024, 65535)}",
        f"+{rng.randrange(1, 40)}% week over week",
    ])  # fmt: skip


OLD_NEGATIVES: dict[str, tuple[Maker, list[str]]] = {
    "order number": (_old_order, ["Your {v} has shipped.", "re: {v}", "refund for {v} approved"]),
    "date": (_old_date, ["created {v}", "at {v} the job ran", "due {v}"]),
    "version": (_old_version, ["upgraded to {v}", "running {v}", "requires {v} or later"]),
    "identifier": (_old_identifier, ["id {v}", "trace {v} failed", "see {v}"]),
    "number": (_old_number, ["took {v}", "value: {v}", "{v} total"]),
}  # fmt: skip


def legacy_corpus(per_kind: int = 300, per_category: int = 400) -> tuple[list[Item], list[Item]]:
    """The old corpus: positives (with the text as redacted right in `expected`) and look-alikes,
    drawn in the old order so the figures compare."""
    rng = random.Random(20240611)
    found, kept = [], []
    for kind, (make, templates) in OLD_POSITIVES.items():
        for _ in range(per_kind):
            template = rng.choice(templates)
            value = make(rng)
            expected = template.format(v=f"[{kind}_1]")
            found.append(Item(template.format(v=value), value, kind, kind, expected))
    for category, (make, templates) in OLD_NEGATIVES.items():
        for _ in range(per_category):
            text = rng.choice(templates).format(v=make(rng))
            kept.append(Item(text, text, None, category))
    return found, kept
