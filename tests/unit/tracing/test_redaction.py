"""Redaction of personal data and secrets: typed, numbered placeholders; Luhn and mod-97
checks; look-alikes left alone; and recall and false-positive rate measured on a generated
corpus of realistic sentences."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from agentdeck.identity.keys import ALPHABET, checksum
from agentdeck.tracing.redaction import KINDS, iban_ok, luhn_ok, redactor

REDACT = redactor()


# --- each kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail anna.smith@example.com now", "mail [EMAIL_1] now"),
        ("From: Bob+News@Mail.Example.CO.UK>", "From: [EMAIL_1]>"),
        ("key sk-" + "a1B2" * 12, "key [SECRET_1]"),
        ("sk-proj-" + "Ab_-9" * 12, "[SECRET_1]"),
        ("x-api-key: sk-ant-api03-" + "Zz9_" * 10, "x-api-key: [SECRET_1]"),
        ("aws AKIAIOSFODNN7EXAMPLE.", "aws [SECRET_1]."),
        ("token=ghp_" + "a" * 36, "token=[SECRET_1]"),
        ("slack xoxb-123456789012-1234567890123-abcdefghij", "slack [SECRET_1]"),
        ("g AIza" + "B" * 35, "g [SECRET_1]"),
        ("Bearer ad_live_" + "A1b2" * 8 + "_Zx9k0Q", "Bearer [SECRET_1]"),
        ("IBAN DE89 3704 0044 0532 0130 00.", "IBAN [IBAN_1]."),
        ("IBAN DE89370400440532013000", "IBAN [IBAN_1]"),
        ("to GB82 WEST 1234 5698 7654 32 today", "to [IBAN_1] today"),
        ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN_1]"),
        ("card 4111 1111 1111 1111", "card [CARD_1]"),
        ("card 4111-1111-1111-1111!", "card [CARD_1]!"),
        ("card 4111111111111111", "card [CARD_1]"),
        ("amex 3782 822463 10005", "amex [CARD_1]"),
        ("amex 378282246310005", "amex [CARD_1]"),
        ("19-digit 6011 0009 9013 9424 123", "19-digit 6011 0009 9013 9424 123"),
        ("ssn 123-45-6789", "ssn [SSN_1]"),
        ("call +1 (415) 555-0123", "call [PHONE_1]"),
        ("call +44 20 7946 0958.", "call [PHONE_1]."),
        ("tel:+14155550123", "tel:[PHONE_1]"),
        ("+49 30 12345678", "[PHONE_1]"),
        ("from 192.168.0.1:8080", "from [IP_1]:8080"),
        ("ip 255.255.255.255", "ip [IP_1]"),
        ("ip 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ip [IP_1]"),
    ],
)
def test_each_kind_is_replaced_by_its_typed_placeholder(text: str, expected: str) -> None:
    assert REDACT(text) == expected


def test_the_19_digit_case_above_is_not_luhn_valid() -> None:
    """A control for the table: the 19-digit run is left alone because it fails Luhn."""
    assert not luhn_ok("6011000990139424123")


def test_the_same_value_gets_the_same_number_within_a_text() -> None:
    text = (
        "a@example.com wrote to b@example.com, then a@example.com again; "
        "call +44 20 7946 0958 or +1 415 555 0123 or +44 20 7946 0958; "
        "card 4111 1111 1111 1111 and 5555 5555 5555 4444 and 4111 1111 1111 1111"
    )
    assert REDACT(text) == (
        "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] again; "
        "call [PHONE_1] or [PHONE_2] or [PHONE_1]; "
        "card [CARD_1] and [CARD_2] and [CARD_1]"
    )


def test_numbers_restart_for_each_text() -> None:
    assert REDACT("x@example.com y@example.com") == "[EMAIL_1] [EMAIL_2]"
    assert REDACT("y@example.com") == "[EMAIL_1]"


def test_the_same_card_written_two_ways_is_two_values() -> None:
    assert REDACT("4111111111111111 / 4111 1111 1111 1111") == "[CARD_1] / [CARD_2]"


def test_every_kind_in_one_text() -> None:
    text = (
        "eve@example.com, sk-" + "q" * 30 + ", DE89 3704 0044 0532 0130 00, "
        "4111 1111 1111 1111, 123-45-6789, +44 20 7946 0958, 10.0.0.1"
    )
    assert REDACT(text) == ("[EMAIL_1], [SECRET_1], [IBAN_1], [CARD_1], [SSN_1], [PHONE_1], [IP_1]")
    assert KINDS == ("SECRET", "EMAIL", "IBAN", "CARD", "SSN", "PHONE", "IP")


def test_only_the_chosen_kinds_are_redacted() -> None:
    text = "eve@example.com or +44 20 7946 0958 from 10.0.0.1"
    assert redactor(("EMAIL",))(text) == "[EMAIL_1] or +44 20 7946 0958 from 10.0.0.1"
    assert redactor(("PHONE", "IP"))(text) == "eve@example.com or [PHONE_1] from [IP_1]"
    assert redactor(())(text) == text


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown redaction kinds") as caught:
        redactor(("EMAIL", "NAME", "ADDRESS"))
    assert str(caught.value) == (
        "unknown redaction kinds ['ADDRESS', 'NAME']; known: "
        "['SECRET', 'EMAIL', 'IBAN', 'CARD', 'SSN', 'PHONE', 'IP']"
    )


# --- checksums -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("6011111111111117", True),
        ("79927398713", True),
        ("4111111111111112", False),
        ("79927398710", False),
        ("1234567812345678", False),
        ("0", True),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_ok(digits) is valid


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1112", "4111-1111-1111-1113", "4111111111111110", "3782 822463 10006",
     "1234 5678 1234 5678"],
)  # fmt: skip
def test_a_card_number_failing_luhn_is_left_alone(card: str) -> None:
    assert REDACT(f"card {card} ok") == f"card {card} ok"


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB82WEST12345698765432", True),
        ("NO9386011117947", True),
        ("DE89370400440532013001", False),
        ("DE88370400440532013000", False),
        ("GB82WEST12345698765433", False),
        ("AB12CDEF", False),  # passes mod-97 shape checks never: too short
    ],
)
def test_iban_mod_97(iban: str, valid: bool) -> None:
    assert iban_ok(iban) is valid


@pytest.mark.parametrize(
    "iban", ["DE89 3704 0044 0532 0130 02", "DE00370400440532013000", "GB82 WEST 1234 5698 7654 33"]
)
def test_an_iban_failing_mod_97_is_left_alone(iban: str) -> None:
    assert REDACT(f"IBAN {iban}.") == f"IBAN {iban}."


@pytest.mark.parametrize(
    "ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"]
)
def test_impossible_social_security_numbers_are_left_alone(ssn: str) -> None:
    assert REDACT(f"ssn {ssn}") == f"ssn {ssn}"


@pytest.mark.parametrize("ip", ["256.1.1.1", "10.0.0.256", "1.2.3", "1:2:3:4:5:6:7"])
def test_impossible_addresses_are_left_alone(ip: str) -> None:
    assert REDACT(f"host {ip} up") == f"host {ip} up"


# --- look-alikes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "order #ORD-2024-000123 shipped",
        "order 48213377 shipped",
        "PO-88213 and invoice INV-2024-0042",
        "created 2024-01-15",
        "at 2024-01-15T10:30:00.123Z",
        "due 01/15/2024 or 15.01.2024 10:30",
        "upgraded to v1.2.3",
        "requires 2.31.0-beta.4",
        "Python 3.11.4",
        "Windows 10.0.19045.3803",
        "Chrome/120.0.6099.109",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61280",
        "ulid 01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "total $1,234.56 for 1500 tokens",
        "+5 points, +12.5% week over week",
        "C++ 2023 and C# 12",
        "lodash@4.17.21 and @octocat",
        "localhost:8080 and 127.0.0.1 is local",  # the loopback address is still an IP
        "ISBN 978-3-16-148410-0",
        "MAC 00:1A:2B:3C:4D:5E",
        "HTTP/1.1 404 after 1500 ms",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    expected = text.replace("127.0.0.1", "[IP_1]")
    assert REDACT(text) == expected


@pytest.mark.xfail(
    strict=True,
    reason="redaction: Luhn alone lets one long digit run in ten through as a card (a "
    "13-digit ms timestamp, an Amazon-style order number, a compact date-time), and a "
    "four-part version with parts <= 255 is taken for an IPv4 address",
)
@pytest.mark.parametrize(
    "text",
    [
        "took 1699336377435 ms",  # a Unix time in ms that passes Luhn
        "refund for 841-0447169-9665610 approved",  # an Amazon order number that passes Luhn
        "created 20240404-191759",  # a compact date-time that passes Luhn
        "assembly version 1.0.0.0",
        "requires 8.5.9.2 or later",
    ],
)
def test_luhn_valid_digit_runs_and_four_part_versions_are_left_alone(text: str) -> None:
    assert REDACT(text) == text


# --- known gaps, one each --------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="redaction IBAN pattern: an IBAN whose BBAN is a multiple of 4 characters (AT, BE, "
    "ES, PL, SE, ...) followed by a word of 1-4 capitals or digits ('BIC', 'EUR') takes the "
    "word into the match, fails mod-97 and is left whole (no retry without the word)",
)
@pytest.mark.parametrize(
    "text",
    [
        "IBAN ES91 2100 0418 4502 0005 1332 BIC CAIXESBBXXX",
        "IBAN ES9121000418450200051332 EUR",
        "pay AT61 1904 3002 3457 3201 EUR 500",
        "BE68 5390 0754 7034 BIC GEBABEBB",
    ],
)
def test_an_iban_followed_by_a_short_word_is_redacted(text: str) -> None:
    assert "[IBAN_1]" in REDACT(text)


@pytest.mark.xfail(
    strict=True,
    reason="redaction PHONE pattern needs 2-4 digits after the country code, so numbers "
    "written with a one-digit area code (France, Japan, Australia, the Netherlands, "
    "Sweden: the usual E.123 form) are not detected",
)
@pytest.mark.parametrize(
    "phone",
    ["+33 1 23 45 67 89", "+33 6 12 34 56 78", "+81 3 1234 5678", "+61 2 9374 4000",
     "+31 6 12345678", "+46 8 123 456 78"],
)  # fmt: skip
def test_phones_with_a_one_digit_area_code_are_redacted(phone: str) -> None:
    assert REDACT(f"call {phone} now") == "call [PHONE_1] now"


@pytest.mark.xfail(
    strict=True,
    reason="redaction IP pattern knows only the full eight-group IPv6 form; the compressed "
    "form RFC 5952 makes canonical ('::') is not detected",
)
@pytest.mark.parametrize(
    "ip", ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "2001:db8:85a3::8a2e:370:7334"]
)
def test_compressed_ipv6_addresses_are_redacted(ip: str) -> None:
    assert REDACT(f"client {ip} ok") == "client [IP_1] ok"


@pytest.mark.xfail(
    strict=True,
    reason="redaction CARD pattern is greedy over digit groups: a card followed by its expiry "
    "month ('4111 1111 1111 1111 09/27') is matched with the month, fails Luhn and is left "
    "whole",
)
def test_a_card_followed_by_its_expiry_is_redacted() -> None:
    assert REDACT("Card: 4111 1111 1111 1111 09/27") == "Card: [CARD_1] 09/27"


@pytest.mark.xfail(
    strict=True,
    reason="redaction: CARD runs before PHONE, so a 13-digit international phone number "
    "that happens to pass Luhn becomes '+[CARD_1]'",
)
def test_a_long_phone_number_is_a_phone() -> None:
    assert REDACT("desk +55 11 92817 2494") == "desk [PHONE_1]"


@pytest.mark.xfail(
    strict=True,
    reason="redaction PHONE pattern takes up to four more digit groups after the number, so "
    "a number written after a phone number ('12 hours') is swallowed into the placeholder",
)
def test_a_phone_does_not_swallow_the_number_after_it() -> None:
    assert REDACT("call +44 20 7946 0958 12 hours a day") == "call [PHONE_1] 12 hours a day"


# --- the corpus ------------------------------------------------------------------------------

DIGITS, UPPER = string.digits, string.ascii_uppercase
ALNUM = string.ascii_letters + DIGITS
Maker = Callable[[random.Random], str]


def _pick(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def _email(rng: random.Random) -> str:
    first = rng.choice(["anna", "bob", "carla", "dmitri", "eve", "fatima", "li", "jose", "ola"])
    last = rng.choice(["smith", "garcia", "ng", "okafor", "muller", "rossi", "kim", "dubois"])
    return rng.choice([
        f"{first}.{last}@{rng.choice(['acme', 'example', 'globex'])}.com",
        f"{first}+{rng.choice(['news', 'billing', 'x'])}@mail.example.org",
        f"{first[0]}_{last}{rng.randrange(100)}@eu.{rng.choice(['hooli', 'umbrella'])}.co.uk",
        f"{first.capitalize()}.{last.upper()}@Example.COM",
    ])  # fmt: skip


def _secret(rng: random.Random) -> str:
    agentdeck = f"ad_live_{_pick(rng, ALPHABET, 32)}"
    return rng.choice([
        "sk-" + _pick(rng, ALNUM, 48),
        "sk-proj-" + _pick(rng, ALNUM + "_-", 64),
        "sk-ant-api03-" + _pick(rng, ALNUM + "_-", 93) + "AA",
        "AKIA" + _pick(rng, UPPER + DIGITS, 16),
        "ghp_" + _pick(rng, ALNUM, 36),
        f"xoxb-{_pick(rng, DIGITS, 12)}-{_pick(rng, DIGITS, 13)}-{_pick(rng, ALNUM, 24)}",
        "AIza" + _pick(rng, ALNUM + "_-", 35),
        f"{agentdeck}_{checksum(agentdeck)}",
    ])  # fmt: skip


# BBAN layouts: (count, alphabet) runs, as the IBAN registry lists them.
_BBANS = {
    "DE": [(18, DIGITS)], "GB": [(4, UPPER), (14, DIGITS)],
    "FR": [(10, DIGITS), (11, UPPER + DIGITS), (2, DIGITS)], "ES": [(20, DIGITS)],
    "IT": [(1, UPPER), (10, DIGITS), (12, UPPER + DIGITS)], "NL": [(4, UPPER), (10, DIGITS)],
    "BE": [(12, DIGITS)], "CH": [(5, DIGITS), (12, UPPER + DIGITS)], "AT": [(16, DIGITS)],
    "PL": [(24, DIGITS)], "SE": [(20, DIGITS)],
}  # fmt: skip


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_BBANS))
    bban = "".join(_pick(rng, alphabet, count) for count, alphabet in _BBANS[country])
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    compact = f"{country}{check:02d}{bban}"
    assert iban_ok(compact)
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _luhn_number(rng: random.Random, prefix: str, size: int) -> str:
    body = prefix + _pick(rng, DIGITS, size - len(prefix) - 1)
    return next(body + d for d in DIGITS if luhn_ok(body + d))


def _card(rng: random.Random) -> str:
    number = rng.choice([
        _luhn_number(rng, "4", 16), _luhn_number(rng, "5" + rng.choice("12345"), 16),
        _luhn_number(rng, rng.choice(["34", "37"]), 15), _luhn_number(rng, "6011", 16),
    ])  # fmt: skip
    sizes = [4, 6, 5] if len(number) == 15 else [4, 4, 4, 4]
    starts = [sum(sizes[:n]) for n in range(len(sizes))]
    groups = [number[start : start + size] for start, size in zip(starts, sizes, strict=True)]
    return rng.choice(["", " ", "-"]).join(groups)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


# International numbers as written (E.123); {n} is n random digits.
_PHONES = [
    "+1 {3} {3} {4}", "+1-{3}-{3}-{4}", "+1 ({3}) {3}-{4}", "+1{3}{3}{4}", "+44 20 {4} {4}",
    "+44 7{3} {6}", "+49 30 {8}", "+49 151 {8}", "+33 1 {2} {2} {2} {2}",
    "+33 6 {2} {2} {2} {2}", "+81 3 {4} {4}", "+81 90 {4} {4}", "+61 2 {4} {4}",
    "+61 4{2} {3} {3}", "+91 9{4} {5}", "+55 11 9{4} {4}", "+31 6 {8}",
]  # fmt: skip


def _phone(rng: random.Random) -> str:
    parts = rng.choice(_PHONES).replace("}", "{").split("{")
    return "".join(_pick(rng, DIGITS, int(p)) if p.isdigit() else p for p in parts)


def _ip(rng: random.Random) -> str:
    groups = [f"{rng.randrange(1, 0x10000):x}" for _ in range(8)]
    return rng.choice([
        ".".join(str(rng.randrange(1, 255)) for _ in range(4)),
        ":".join(groups),
        f"2001:db8:{groups[2]}::{groups[6]}:{groups[7]}",  # RFC 5952's canonical form
    ])  # fmt: skip


POSITIVES: dict[str, tuple[Maker, list[str]]] = {
    "EMAIL": (_email, ["Contact me at {v} please.", "From: {v}", "reply to <{v}>",
                       "the user {v} asked"]),
    "SECRET": (_secret, ["OPENAI_API_KEY={v}", "Authorization: Bearer {v}",
                         "my key is {v}, keep it safe", '{{"api_key": "{v}"}}']),
    "IBAN": (_iban, ["IBAN: {v}", "Please wire the deposit to {v} by Friday.",
                     "account {v} (main)", "IBAN {v} BIC DEUTDEFFXXX", "pay {v}, ref INV-2291"]),
    "CARD": (_card, ["card {v}", "Card number: {v}, expires 09/27", "charged to {v}.",
                     "Card: {v} 09/27"]),
    "SSN": (_ssn, ["SSN {v}", "social security number: {v}.", "ssn={v}"]),
    "PHONE": (_phone, ["call me on {v}", "Phone: {v}", "tel:{v}",
                       "reach the desk at {v} tomorrow"]),
    "IP": (_ip, ["client ip {v}", "connect to {v} on port 22", "X-Forwarded-For: {v}",
                 "from {v}."]),
}  # fmt: skip


def _order(rng: random.Random) -> str:
    return rng.choice([
        f"ORD-2024-{_pick(rng, DIGITS, 6)}", f"#{rng.randrange(10_000, 99_999_999)}",
        f"order {rng.randrange(1, 10)}{_pick(rng, DIGITS, rng.randrange(6, 10))}",
        f"{_pick(rng, DIGITS, 3)}-{_pick(rng, DIGITS, 7)}-{_pick(rng, DIGITS, 7)}",
    ])  # fmt: skip


def _date(rng: random.Random) -> str:
    y, mo, d = rng.randrange(2000, 2030), rng.randrange(1, 13), rng.randrange(1, 29)
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return rng.choice([
        f"{y}-{mo:02d}-{d:02d}", f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.123Z",
        f"{mo:02d}/{d:02d}/{y}", f"{d:02d}.{mo:02d}.{y} {h:02d}:{mi:02d}",
        f"{y}{mo:02d}{d:02d}-{h:02d}{mi:02d}{s:02d}",
    ])  # fmt: skip


def _version(rng: random.Random) -> str:
    n = rng.randrange
    return rng.choice([
        f"v{n(0, 20)}.{n(0, 40)}.{n(0, 100)}", f"{n(1, 5)}.{n(0, 20)}.{n(0, 20)}-beta.{n(1, 9)}",
        f"Python 3.{n(8, 14)}.{n(0, 20)}", f"Chrome/{n(100, 130)}.0.{n(5000, 7000)}.{n(50, 250)}",
        f"{n(1, 10)}.{n(0, 10)}.{n(0, 10)}.{n(0, 10)}",  # .NET assembly versions
    ])  # fmt: skip


def _identifier(rng: random.Random) -> str:
    return rng.choice([
        str(uuid.UUID(int=rng.getrandbits(128), version=4)), _pick(rng, "0123456789abcdef", 32),
        _pick(rng, "0123456789abcdef", 40), "req_" + _pick(rng, ALNUM, 24),
        "01" + _pick(rng, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 24),
    ])  # fmt: skip


def _number(rng: random.Random) -> str:
    return rng.choice([
        str(rng.randrange(1_600_000_000_000, 1_800_000_000_000)),  # Unix time in ms
        str(rng.randrange(1_600_000_000, 1_800_000_000)),
        f"${rng.randrange(1, 99)},{rng.randrange(1000):03d}.{rng.randrange(100):02d}",
        f"{rng.randrange(1, 10**6)} tokens", f"localhost:{rng.randrange(1024, 65535)}",
        f"+{rng.randrange(1, 40)}% week over week",
    ])  # fmt: skip


NEGATIVES: dict[str, tuple[Maker, list[str]]] = {
    "order number": (_order, ["Your {v} has shipped.", "re: {v}", "refund for {v} approved"]),
    "date": (_date, ["created {v}", "at {v} the job ran", "due {v}"]),
    "version": (_version, ["upgraded to {v}", "running {v}", "requires {v} or later"]),
    "identifier": (_identifier, ["id {v}", "trace {v} failed", "see {v}"]),
    "number": (_number, ["took {v}", "value: {v}", "{v} total"]),
}


@dataclass
class Measure:
    """Hits and misses per category."""

    total: dict[str, int] = field(default_factory=dict)
    wrong: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, category: str, text: str, got: str, right: bool) -> None:
        self.total[category] = self.total.get(category, 0) + 1
        bucket = self.wrong.setdefault(category, [])
        if not right:
            bucket.append((text, got))

    @property
    def count(self) -> int:
        return sum(self.total.values())

    @property
    def misses(self) -> int:
        return sum(len(found) for found in self.wrong.values())

    def report(self) -> str:
        return "; ".join(
            f"{name}: {len(self.wrong[name])}/{count} e.g. {self.wrong[name][:2]}"
            for name, count in self.total.items()
            if self.wrong[name]
        )


def _corpus(per_kind: int = 300, per_category: int = 400) -> tuple[Measure, Measure]:
    """Recall over sentences holding one sensitive value (right when the output is the
    sentence with that value replaced by `[KIND_1]` and nothing else changed), and false
    positives over sentences holding a look-alike (wrong when anything changed)."""
    rng = random.Random(20240611)
    found, kept = Measure(), Measure()
    for kind, (make, templates) in POSITIVES.items():
        for _ in range(per_kind):
            template = rng.choice(templates)
            text = template.format(v=make(rng))
            got = REDACT(text)
            found.add(kind, text, got, got == template.format(v=f"[{kind}_1]"))
    for category, (make, templates) in NEGATIVES.items():
        for _ in range(per_category):
            text = rng.choice(templates).format(v=make(rng))
            got = REDACT(text)
            kept.add(category, text, got, got == text)
    return found, kept


def test_the_corpus_is_large_enough_and_well_formed() -> None:
    found, kept = _corpus()
    assert found.count == 2100
    assert kept.count == 2000
    # Kinds the redactor handles whole are found every time: the generator is sound.
    for kind in ("EMAIL", "SECRET", "SSN"):
        assert found.wrong[kind] == [], kind
    assert kept.wrong["identifier"] == []


@pytest.mark.xfail(
    strict=True,
    reason="recall measured at 0.8695 = 1826/2100 (bar 0.99): PHONE 0.673 (one-digit area "
    "codes; 13-digit numbers taken for cards), IP 0.700 (compressed IPv6), CARD 0.763 (card "
    "then expiry), IBAN 0.950 (IBAN then 'BIC ...'); EMAIL, SECRET, SSN 1.0",
)
def test_recall_on_the_corpus() -> None:
    found, _ = _corpus()
    recall = 1 - found.misses / found.count
    assert recall >= 0.99, f"recall {recall:.4f}: {found.report()}"


@pytest.mark.xfail(
    strict=True,
    reason="false-positive rate measured at 5.15% = 103/2000 (bar 1%): versions 19.3% "
    "(four-part versions taken for IPv4), dates 2.5%, order numbers 2.0%, numbers 2.0% "
    "(Luhn-valid compact date-times, Amazon-style order numbers, ms timestamps taken for "
    "cards), identifiers 0%",
)
def test_false_positive_rate_on_the_corpus() -> None:
    _, kept = _corpus()
    rate = kept.misses / kept.count
    assert rate <= 0.01, f"false positives {rate:.4f}: {kept.report()}"
