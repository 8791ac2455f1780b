"""The detectors: each kind found where it is, and its look-alikes (bad checksums, version
strings, UUIDs, placeholders) left alone."""

from __future__ import annotations

import random

import pytest

from gateway.guardrails.pii import checks
from gateway.guardrails.pii.detect import KINDS, RULES, Detector, Found, Kind, resolve, scan_rule

DETECTOR = Detector()


def found(text: str, detector: Detector = DETECTOR) -> list[tuple[Kind, str]]:
    return [(f.kind, text[f.start : f.end]) for f in detector.find(text)]


POSITIVES: list[tuple[Kind, str]] = [
    ("EMAIL", "alice.smith@example.org"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(415) 555-2671"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "4111-1111-1111-1111"),
    ("CARD", "5555 5555 5555 4444"),  # few distinct digits: still a card
    ("CARD", "378282246310005"),
    ("IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN", "DE89370400440532013000"),
    ("NATID", "123-45-6789"),
    ("NATID", "12345678Z"),
    ("NATID", "RSSMRA85T10A562S"),
    ("NATID", "AB 12 34 56 C"),
    ("IP", "192.168.1.20"),
    ("IP", "2001:db8::8a2e:370:7334"),
    ("SECRET", "sk-proj-Xk29fLq8ZpR4mT7vN1bW6yH3cJ0dG5sAeU"),
    ("SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("SECRET", "xoxb-2048-1234567890-abcDEF"),
    ("SECRET", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
    (
        "SECRET",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
]


@pytest.mark.parametrize(("kind", "value"), POSITIVES)
def test_each_kind_is_found_whole_inside_prose(kind: Kind, value: str) -> None:
    assert found(f"Please note {value} for later.") == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "order 1234 5678 9012 3456",  # fails Luhn
        "GB82 WEST 1234 5698 7654 33",  # fails mod-97
        "upgrade to version 1.2.3.4",
        "tag v10.0.0.1",
        "pip install pkg==1.2.3.4",
        "Windows 10.0.19045.3570",
        "listen on 127.0.0.1",
        "at 12:30:45",
        "id 123e4567-e89b-12d3-a456-426614174000",  # a UUID is not a key
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "import sk-learn",
        "sk-" + "a" * 40,  # key-shaped, no entropy
        "password: changeme",
        "api_key = os.environ['OPENAI_API_KEY']",
        "token: ${TOKEN}",
        "see logo@2x.png",
        "build 20240101",
        "12345678A",  # DNI with the wrong letter
        "44051401359",  # a valid PESEL, but no word says it is one
        "PESEL 44051401358",  # the word, but a bad check digit
        "eyJfoo.eyJbar.bazbazbaz",  # not a decodable JWT header
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert found(text) == []


def test_bare_ids_count_only_after_a_keyword() -> None:
    assert found("PESEL 44051401359 and BSN 111222333") == [
        ("NATID", "44051401359"),
        ("NATID", "111222333"),
    ]


def test_an_assigned_secret_is_the_value_not_the_name() -> None:
    assert found("password = Tr0ub4dor&3xQ") == [("SECRET", "Tr0ub4dor&3xQ")]
    assert found("postgres://admin:S3cr3tPw@db.internal/app") == [("SECRET", "S3cr3tPw")]


def test_only_the_kinds_asked_for_are_found() -> None:
    text = "mail bob@example.com from 10.1.2.3 with card 4111111111111111"
    assert [k for k, _ in found(text, Detector(frozenset({"IP", "CARD"})))] == ["IP", "CARD"]
    assert {k for k, _ in found(text)} == {"EMAIL", "IP", "CARD"}
    assert set(KINDS) >= {"EMAIL", "IP", "CARD"}


def test_overlaps_go_to_the_more_specific_rule_and_findings_are_ordered() -> None:
    text = "key sk-proj-Xk29fLq8ZpR4mT7vN1bW6yH3cJ0dG5sAeU then +1 415 555 2671"
    assert [k for k, _ in found(text)] == ["SECRET", "PHONE"]


def test_checksums() -> None:
    assert checks.luhn_ok("79927398713")
    assert not checks.luhn_ok("79927398710")
    assert checks.iban_ok("FR14 2004 1010 0505 0001 3M02 606")
    assert not checks.iban_ok("FR14 2004 1010 0505 0001 3M02 607")
    assert not checks.iban_ok("XX14 2004 1010 0505 0001 3M02 606")  # unknown country
    assert checks.jwt_ok("eyJhbGciOiJub25lIn0.e30.x")
    assert not checks.jwt_ok("bm90IGpzb24.e30.x")


def full_scan(text: str) -> list[Found]:
    """Every rule over the whole text, no gates or windows: what the fast path must equal."""
    hits: set[tuple[int, int, int, Kind]] = set()
    for rank, rule in enumerate(RULES):
        scan_rule(rule, rank, text, 0, len(text), hits)
    return resolve(hits)


SNIPPETS = [value for _, value in POSITIVES] + [
    "4111 1111 1111 1112", "version 1.2.3.4", "PESEL", "BSN", "44051401359", "111222333",
    "ABCDEF", "GB82", "AB 12", "XX99", " ", " ", "\n", "-", ".", "(", ")", ":", "::", "=",
    "password", "token=", "@", "x", "12", "345", "2024-01-05", "+1", "00", "v", "Z",
    "'", '"', "/", "ff", "RSSMRA", "85T10", "A562S",
]  # fmt: skip


def test_gates_and_windows_find_exactly_what_a_full_scan_finds() -> None:
    rng = random.Random(20)
    for _ in range(3000):
        text = "".join(rng.choice(SNIPPETS) for _ in range(rng.randint(1, 14)))
        assert DETECTOR.find(text) == full_scan(text), text
