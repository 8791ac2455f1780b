"""Checks a regex candidate must pass to count as PII or a secret.

A pattern alone flags too much (build numbers as cards, version strings as
IPs, any long word as a key): each kind with a checksum is confirmed by it
(Luhn, IBAN mod-97, the national ids' check digits through python-stdnum),
the others by context (what precedes an IPv4, a keyword before a bare id).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable

import orjson
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

# A validator sees the candidate, the whole text and where the candidate starts in it.
Check = Callable[[str, str, int], bool]

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        n = ord(ch) - 48
        if double:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
        double = not double
    return total % 10 == 0


# Issuer prefixes of the major networks: a Luhn-valid number outside them is more likely an id.
_CARD_PREFIX = re.compile(r"(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6011|65|64[4-9]|35|62)")


def card_ok(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rotated = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def entropy(s: str) -> float:
    """Shannon entropy in bits per character: keys are random, words and placeholders not."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def jwt_ok(candidate: str) -> bool:
    """A JWT's first part decodes to a JSON object (its header)."""
    head = candidate.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict)


_NOT_HOSTS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255"})
# A dotted quad right after these is a version, not an address: v1.2.3.4, ==1.2.3.4, build 10.0.1.2.
_VERSION_BEFORE = re.compile(r"(?:\bv|version\s*|release\s*|build\s*|[<>~!=]=\s*|\^)$", re.I)


def ipv4_ok(candidate: str, text: str, start: int) -> bool:
    if candidate in _NOT_HOSTS:
        return False
    return not _VERSION_BEFORE.search(text[max(0, start - 12) : start])


def ipv6_ok(candidate: str, text: str, start: int) -> bool:
    if candidate.count(":") < 2:
        return False
    try:
        ip = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


# Values that name a secret without being one: "password: changeme", "token=${TOKEN}".
_PLACEHOLDER = re.compile(
    r"(?:x+|\*+|<.*>|\$\{.*\}|\{\{.*\}\}|your[_-].*|changeme|example.*|null|none|true|false"
    r"|redacted|os\.environ.*|os\.getenv.*|process\.env.*|getenv.*)",
    re.I,
)


def not_placeholder(candidate: str, text: str, start: int) -> bool:
    return not _PLACEHOLDER.fullmatch(candidate)


def assigned_secret_ok(candidate: str, text: str, start: int) -> bool:
    """``password = value``: the value must look random enough to be a real secret."""
    return len(candidate) >= 8 and not _PLACEHOLDER.fullmatch(candidate) and entropy(candidate) >= 3


def high_entropy(candidate: str, text: str, start: int) -> bool:
    return entropy(candidate) > 3.5


def valid_jwt(candidate: str, text: str, start: int) -> bool:
    return jwt_ok(candidate)


def valid_card(candidate: str, text: str, start: int) -> bool:
    return card_ok(candidate)


def valid_iban(candidate: str, text: str, start: int) -> bool:
    return iban_ok(candidate)


def stdnum_check(is_valid: Callable[[str], bool]) -> Check:
    """A national id whose check digits python-stdnum knows."""

    def check(candidate: str, text: str, start: int) -> bool:
        return is_valid(candidate.replace(" ", ""))

    return check


# Bare 9- and 11-digit ids are only ids next to a word saying so, and with valid check digits.
_ID_KEYWORD = re.compile(
    r"(?:pesel|bsn|burgerservice|steuer|idnr|tax\s*id|identifikationsnummer|national\s*"
    r"(?:id|insurance)|personal\s*id)",
    re.I,
)


def keyword_id(*validators: Callable[[str], bool]) -> Check:
    def check(candidate: str, text: str, start: int) -> bool:
        if not _ID_KEYWORD.search(text[max(0, start - 40) : start]):
            return False
        return any(is_valid(candidate) for is_valid in validators)

    return check


_NINO_NEVER = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def nino_ok(candidate: str, text: str, start: int) -> bool:
    return candidate[:2] not in _NINO_NEVER


def phone_digits_ok(candidate: str, text: str, start: int) -> bool:
    """An international number has 8 to 15 digits after its prefix (E.164)."""
    digits = sum(c.isdigit() for c in candidate) - (2 if candidate.startswith("00") else 0)
    return 8 <= digits <= 15


def not_asset(candidate: str, text: str, start: int) -> bool:
    """``logo@2x.png`` has an address's shape."""
    return not _ASSET.search(candidate)


_ASSET = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|js|css|py)$", re.I)

DNI = stdnum_check(dni.is_valid)
NIE = stdnum_check(nie.is_valid)
CODICE_FISCALE = stdnum_check(codicefiscale.is_valid)
NIR = stdnum_check(nir.is_valid)
ID11 = keyword_id(pesel.is_valid, idnr.is_valid)
ID9 = keyword_id(bsn.is_valid)
