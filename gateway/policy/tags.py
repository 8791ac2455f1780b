"""Cost-attribution tags: what a call says it is for, read once when it is prepared.

A call names its tags in the ``x-gateway-tags`` header (``feature=search,env=prod``)
and, when the tenant's ``tags.from_metadata`` is on, in its OpenAI ``metadata``
object (only the allow-listed keys there: metadata has other uses). The header
wins where both name a key.

A key not on the tenant's allow-list is refused (400 ``invalid_tags``), not
dropped: a typo (``featrue=search``) dropped silently would lose the call's
attribution for good, and nobody would know until the bill is split. A value
is bounded in length and to a safe charset without ``,`` or ``=``, so the
ledger's canonical text (`canonical`) splits back exactly, and the number of
distinct keys a report can show is bounded by the config.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.runtime import Policy
from gateway.config.tenant import TAG_VALUE
from gateway.errors import BadRequest

HEADER = b"x-gateway-tags"

_VALUE_CHARS = "letters, digits and . _ : / @ + -"


def request_tags(header: bytes | None, body: Mapping[str, object], policy: Policy) -> str | None:
    """The call's tags as the ledger's canonical text, or None when it carries none.

    Raises `BadRequest` (``invalid_tags``) for a malformed pair, a key the tenant
    does not allow, or a value too long or outside the charset.
    """
    if not header and not policy.tags.from_metadata:
        return None  # most calls: nothing to read
    tags: dict[str, str] = {}
    if policy.tags.from_metadata:
        metadata = body.get("metadata")
        if isinstance(metadata, dict):
            for key in policy.tags.keys:  # a handful: a list is as quick as a set
                value = metadata.get(key)
                if isinstance(value, str):
                    tags[key] = _checked_value(key, value, policy, "metadata")
    if header:
        tags.update(parse_header(header.decode("latin-1"), policy))
    return canonical(tags)


def parse_header(text: str, policy: Policy) -> dict[str, str]:
    """``key=value`` pairs separated by commas (blanks around them ignored)."""
    out: dict[str, str] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise _refused(f"The tag {pair!r} is not key=value.")
        if key not in policy.tags.keys:
            allowed = ", ".join(sorted(policy.tags.keys)) or "none"
            raise _refused(f"Unknown tag key {key!r}; this tenant allows: {allowed}.")
        out[key] = _checked_value(key, value, policy, "x-gateway-tags")
    return out


def canonical(tags: Mapping[str, str]) -> str | None:
    """Sorted ``key=value`` pairs joined by commas: one text per set of tags, whatever order
    the client wrote them in, that SQL finds a key's value in with plain string functions."""
    if not tags:
        return None
    return ",".join(f"{k}={tags[k]}" for k in sorted(tags))


def tag_value(text: str | None, key: str) -> str | None:
    """The value of ``key`` in a canonical tags text (what the usage query does in SQL)."""
    for pair in (text or "").split(","):
        k, _, v = pair.partition("=")
        if k == key:
            return v
    return None


def _checked_value(key: str, value: str, policy: Policy, param: str) -> str:
    limit = policy.tags.max_value_len
    if len(value) > limit:
        raise _refused(f"The value of tag {key!r} is longer than {limit} characters.", param)
    if not TAG_VALUE.fullmatch(value):
        raise _refused(f"The value of tag {key!r} must be 1 or more of {_VALUE_CHARS}.", param)
    return value


def _refused(message: str, param: str = "x-gateway-tags") -> BadRequest:
    return BadRequest(message, param=param, code="invalid_tags")
