"""The PII and secret detector: each kind and each validation rule, typed and numbered
placeholders, look-alikes left alone, and the cases where the old tracing redactor failed (moved
here from tests/unit/tracing/test_redaction.py, where they were strict xfails)."""

from __future__ import annotations

import base64
import json

import pytest

from agentdeck.guardrails.models import Redaction
from agentdeck.guardrails.pii import (
    MAX_MATCH_CHARS,
    PII_KINDS,
    find_pii,
    iban_ok,
    luhn_ok,
    redact,
    redactor,
)

REDACT = redactor()


def kinds_in(text: str) -> list[tuple[str, str]]:
    """(kind, value) of every span found in `text`."""
    return [(span.kind, text[span.start : span.end]) for span in find_pii(text)]


# --- each kind (moved from the tracing tests) -------------------------------------------------


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
    assert redact(text) == expected


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
        "4111 1111 1111 1111, 123-45-6789, +44 20 7946 0958, 10.0.0.1, "
        "secret=Zq8f3Kx0pW2vN7mR4tY9wB1cD6eH5jA0"
    )
    assert REDACT(text) == (
        "[EMAIL_1], [SECRET_1], [IBAN_1], [CARD_1], [SSN_1], [PHONE_1], [IP_1], "
        "secret=[HIGH_ENTROPY_1]"
    )
    assert PII_KINDS == ("SECRET", "EMAIL", "IBAN", "CARD", "SSN", "PHONE", "IP", "HIGH_ENTROPY")


def test_only_the_chosen_kinds_are_redacted() -> None:
    text = "eve@example.com or +44 20 7946 0958 from 10.0.0.1"
    assert redactor(("EMAIL",))(text) == "[EMAIL_1] or +44 20 7946 0958 from 10.0.0.1"
    assert redactor(("PHONE", "IP"))(text) == "eve@example.com or [PHONE_1] from [IP_1]"
    assert redactor(())(text) == text
    assert redact(text, ["IP"]) == "eve@example.com or +44 20 7946 0958 from [IP_1]"
    assert find_pii(text, "EMAIL") == [Redaction(0, 15, "EMAIL")]  # one kind as a string


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown redaction kinds") as caught:
        redactor(("EMAIL", "NAME", "ADDRESS"))
    assert str(caught.value) == (
        "unknown redaction kinds ['ADDRESS', 'NAME']; known: "
        "['SECRET', 'EMAIL', 'IBAN', 'CARD', 'SSN', 'PHONE', 'IP', 'HIGH_ENTROPY']"
    )
    with pytest.raises(ValueError, match=r"\['PASSPORT'\]"):
        find_pii("text", ["EMAIL", "PASSPORT"])
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        redact("text", ("email",))  # kinds are upper case


# --- checksums ------------------------------------------------------------------------------


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
        ("AB12CDEF", False),  # too short to be an IBAN
        ("DE8937040044053201300", False),  # passes no check at 21 characters: Germany's are 22
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


# --- look-alikes ----------------------------------------------------------------------------


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


# --- where the old tracing redactor failed (strict xfails there, passing here) -------------


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
    assert kinds_in(text)[0][1].replace(" ", "")[:2] in ("ES", "AT", "BE")
    assert "BIC" not in kinds_in(text)[0][1]
    assert "EUR" not in kinds_in(text)[0][1]


@pytest.mark.parametrize(
    "phone",
    ["+33 1 23 45 67 89", "+33 6 12 34 56 78", "+81 3 1234 5678", "+61 2 9374 4000",
     "+31 6 12345678", "+46 8 123 456 78"],
)  # fmt: skip
def test_phones_with_a_one_digit_area_code_are_redacted(phone: str) -> None:
    assert REDACT(f"call {phone} now") == "call [PHONE_1] now"


@pytest.mark.parametrize(
    "ip", ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "2001:db8:85a3::8a2e:370:7334"]
)
def test_compressed_ipv6_addresses_are_redacted(ip: str) -> None:
    assert REDACT(f"client {ip} ok") == "client [IP_1] ok"


def test_a_card_followed_by_its_expiry_is_redacted() -> None:
    assert REDACT("Card: 4111 1111 1111 1111 09/27") == "Card: [CARD_1] 09/27"


def test_a_long_phone_number_is_a_phone() -> None:
    assert REDACT("desk +55 11 92817 2494") == "desk [PHONE_1]"


def test_a_phone_does_not_swallow_the_number_after_it() -> None:
    assert REDACT("call +44 20 7946 0958 12 hours a day") == "call [PHONE_1] 12 hours a day"


# --- spans ------------------------------------------------------------------------------------


def test_spans_are_sorted_non_overlapping_and_typed() -> None:
    text = "ip 10.0.0.1, mail a@b.io, card 4242 4242 4242 4242, ssn 078-05-1121"
    spans = find_pii(text)
    assert spans == [
        Redaction(3, 11, "IP"),
        Redaction(18, 24, "EMAIL"),
        Redaction(31, 50, "CARD"),
        Redaction(56, 67, "SSN"),
    ]
    assert find_pii("") == []
    assert find_pii("nothing to see here, 42 times") == []


def test_positions_count_characters_not_bytes() -> None:
    text = "Grüße von Jürgen, jürgen.müller@example.de? nein: jm@example.de, ☎ +49 30 12345678"
    assert kinds_in(text) == [
        ("EMAIL", "jürgen.müller@example.de"),  # a local part may hold letters beyond ASCII
        ("EMAIL", "jm@example.de"),
        ("PHONE", "+49 30 12345678"),
    ]
    assert text[find_pii(text)[0].start - 1] == " "


def test_an_overlap_goes_to_the_kind_listed_first() -> None:
    """A key inside an e-mail-like string is a secret; its digits are not a card or a phone."""
    key = "sk-" + "4111111111111111" + "abcdEFGH1234"
    assert kinds_in(f"user {key}@example.com") == [("SECRET", key)]


def test_max_match_chars_bounds_every_span() -> None:
    body = "\n".join("A" * 64 for _ in range(200))  # 13 KB: a key far larger than any real one
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    jwt = "eyJ" + "a" * 5000 + ".eyJ" + "b" * 5000 + ".sig"
    for text in (pem, jwt, "x@" + "a" * 400 + ".com"):
        assert all(span.end - span.start <= MAX_MATCH_CHARS for span in find_pii(text))
    assert find_pii(pem)[0].start == 0  # the block is still caught, from its header


# --- cards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    ["5555 5555 5555 4444", "2223 0031 2200 3222", "3714 496353 98431", "6011 0009 9013 9424",
     "3056 930902 5904", "3530 1113 3330 0000", "6200 0000 0000 0005", "4111-1111-1111-1111",
     "4000 0000 0000 0000 006"],
)  # fmt: skip
def test_cards_of_each_network_are_found(card: str) -> None:
    assert kinds_in(f"paid with {card}.") == [("CARD", card)]


@pytest.mark.parametrize(
    "text",
    [
        "barcode 4006381333931",  # 13 digits starting with 4 pass Luhn: no Visa is that short
        "IMEI 352099001761481",  # Luhn-valid by design, 15 digits: no network fits
        "ref 4111 11111 1111 111",  # 16 digits passing Luhn, in groups cards are not printed in
        "mixed 4111-1111 1111-1111",  # two kinds of separator
        "price 4111111111111111.50",  # a decimal number
        "id 4111111111111111abc",  # glued to a word
        "+4111111111111111",  # after a plus sign it would be a phone, if anything
    ],
)
def test_card_shapes_that_are_not_cards(text: str) -> None:
    assert [kind for kind, _ in kinds_in(text)] != ["CARD"]


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["+4915112345678", "+1 (415) 555-0134", "+44 20 7946 0958", "0044 20 7946 0958",
     "+44 (0)20 7946 0958", "(415) 555-0134", "415-555-0134", "415.555.0134", "1-800-555-0199",
     "020 7946 0958", "07700 900123", "030 12345678", "01 23 45 67 89", "+7 495 123-45-67",
     "+353 1 234 5678", "+1-415-555-0134"],
)  # fmt: skip
def test_phone_formats(phone: str) -> None:
    assert kinds_in(f"ring {phone} today") == [("PHONE", phone)]


@pytest.mark.parametrize(
    "text",
    ["call 555-0134", "ext. 4521", "room 4-123", "+0000 offset", "at +01:00", "0044 0532 013000",
     "code 123-555-0134", "dial 0800 123", "ISBN 0306406152", "score 3-2 at 90+3"],
)  # fmt: skip
def test_phone_look_alikes(text: str) -> None:
    assert [kind for kind, _ in kinds_in(text)] == []


def test_phone_ends_at_the_countrys_length() -> None:
    assert kinds_in("+33 6 12 34 56 78 90") == [("PHONE", "+33 6 12 34 56 78")]
    assert kinds_in("+1 415 555 0134 2 rings") == [("PHONE", "+1 415 555 0134")]


# --- IP addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip", ["::1", "::ffff:192.0.2.1", "2001:DB8::FF00:42:8329", "1.1.1.1", "8.8.8.8", "10.0.0.0"]
)
def test_addresses(ip: str) -> None:
    assert kinds_in(f"resolve via {ip} now") == [("IP", ip)]


@pytest.mark.parametrize(
    "text",
    ["version 1.2.3.4", "v1.2.3.4", "release 2.0.0.1", "upgraded to 4.5.6.7", "1.2.3.4 or later",
     "10.0.0.1.5", "std::vector and a::b", "time 10:30:45", "01.02.03.04", "Chrome/1.2.3.4"],
)  # fmt: skip
def test_address_look_alikes(text: str) -> None:
    assert kinds_in(text) == []


def test_an_address_in_a_url_or_with_a_port_or_prefix() -> None:
    assert kinds_in("http://10.1.2.3/health") == [("IP", "10.1.2.3")]
    assert kinds_in("allow 192.168.0.0/16") == [("IP", "192.168.0.0")]
    assert kinds_in("[2001:db8::1]:443") == [("IP", "2001:db8::1")]


# --- SSN, e-mail, IBAN --------------------------------------------------------------------


def test_ssn_needs_the_dashed_shape_and_free_edges() -> None:
    assert kinds_in("ssn 078-05-1121.") == [("SSN", "078-05-1121")]
    assert kinds_in("ssn 078051121 or 078 05 1121") == []
    assert kinds_in("SKU 123-45-6789X and 123-45-6789-01") == []


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("<first.last+tag@sub.example.co.uk>", "first.last+tag@sub.example.co.uk"),
        ("mailto:o'neil@example.com", "neil@example.com"),
        ("...@example.com", None),
        ("user@localhost", None),
        ("git@github.com:org/repo.git", None),
        ("name@example.c", None),
        (".hidden@example.org", "hidden@example.org"),
    ],
)
def test_email_edges(text: str, email: str | None) -> None:
    assert kinds_in(text) == ([("EMAIL", email)] if email else [])


def test_iban_of_a_country_without_ibans_is_left_alone() -> None:
    assert kinds_in("JD014600006281234567 and RR123456789GB") == []
    assert kinds_in("NL91 ABNA 0417 1643 00") == [("IBAN", "NL91 ABNA 0417 1643 00")]


# --- secrets and high-entropy tokens --------------------------------------------------------


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-admin01-" + "x1Y2" * 20, "ASIA" + "ABCDEFGHIJ234567", "gho_" + "a1B2" * 9,
        "github_pat_" + "A" * 22 + "_" + "b1" * 29 + "c", "xapp-1-A0123456789-1234567890-abcdef",
        "sk_live_" + "a1B2" * 6, "rk_live_" + "a1B2" * 6, "pk_live_" + "a1B2" * 6,
        "glpat-" + "a1B2c3D4e5F6g7H8i9J0", "npm_" + "a1B2" * 9, "hf_" + "abCD" * 9,
        _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64({"sub": "42"}) + "." + "s1G_n" * 8,
    ],
)  # fmt: skip
def test_key_shapes(secret: str) -> None:
    assert kinds_in(f"use {secret} here") == [("SECRET", secret)]


def test_pem_private_key_blocks_are_secrets_and_public_ones_are_not() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "\n" + "a1B2c3D4" * 8
    key = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----"
    assert kinds_in(f"key:\n{key}\nend") == [("SECRET", key)]
    in_json = json.dumps({"private_key": key})
    assert [kind for kind, _ in kinds_in(in_json)] == ["SECRET"]
    public = f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"
    assert "SECRET" not in [kind for kind, _ in kinds_in(public)]


@pytest.mark.parametrize(
    "text",
    ["sk-learn-is-a-python-library", "task-management-system-for-teams-and-more",
     "AKIA" + "A" * 15, "ghp_" + "a" * 20, "ad_hoc_analysis_of_the_results_table"],
)  # fmt: skip
def test_key_look_alikes(text: str) -> None:
    assert kinds_in(text) == []


def test_high_entropy_tokens() -> None:
    token = "Zq8f3Kx0pW2vN7mR4tY9wB1cD6eH5jA0"
    assert kinds_in(f"session seed {token}") == [("HIGH_ENTROPY", token)]
    assert kinds_in("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY4EXAMPLEKEY") == [
        ("HIGH_ENTROPY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY4EXAMPLEKEY")
    ]
    hex_key = "5f4dcc3b5aa765d61d8327deb882cf99"
    assert kinds_in(f"api_key={hex_key}") == [("HIGH_ENTROPY", hex_key)]
    assert kinds_in(f"Authorization: Bearer {hex_key}") == [("HIGH_ENTROPY", hex_key)]


@pytest.mark.parametrize(
    "text",
    [
        "commit 5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b",  # a git sha
        "md5 5f4dcc3b5aa765d61d8327deb882cf99",  # a labelled hash
        "see 5f4dcc3b5aa765d61d8327deb882cf99",  # unlabelled hex: an id, not a secret
        "sha256: Zq8f3Kx0pW2vN7mR4tY9wB1cD6eH5jA0",  # labelled, whatever its alphabet
        "chatcmpl-Zq8f3Kx0pW2vN7mR4tY9wB1cD6eH5jA0",  # a typed id
        "getUserAccountSettingsByIdV2Handler",  # words in camel case
        "/home/runner/work/Agentdeck2/src/Guardrails",  # a path
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "Zq8f3Kx0pW2vN7mR4tY9wB1cD6eH5jA0" * 9,  # over 256 characters: a blob, not a key
    ],
)
def test_high_entropy_look_alikes(text: str) -> None:
    assert kinds_in(text) == []


def test_redactor_validates_kinds_eagerly_and_redact_numbers_per_kind() -> None:
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        redactor(("PHONE", "FAX"))
    text = "a@x.io, 10.0.0.1, b@x.io, 10.0.0.2, a@x.io"
    assert redact(text) == "[EMAIL_1], [IP_1], [EMAIL_2], [IP_2], [EMAIL_1]"
