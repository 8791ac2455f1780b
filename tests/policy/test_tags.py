"""Cost-attribution tags as a plain function: what a call carries, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.runtime import Policy
from gateway.config.tenant import TagsPolicy
from gateway.errors import BadRequest
from gateway.policy.tags import canonical, request_tags, tag_value


def policy(keys: tuple[str, ...] = ("feature", "env"), **kw: Any) -> Policy:
    tags = TagsPolicy(keys=list(keys), **kw)
    return Policy(enabled=True, allowed_models=frozenset({"gpt-5"}), tags=tags)


def test_the_header_gives_sorted_canonical_tags_whatever_the_order() -> None:
    p = policy()
    assert request_tags(b"feature=search,env=prod", {}, p) == "env=prod,feature=search"
    assert request_tags(b" env = prod , feature=search ,", {}, p) == "env=prod,feature=search"
    assert request_tags(b"feature=a,feature=b", {}, p) == "feature=b"  # the last one counts


def test_no_header_and_no_metadata_is_no_tags() -> None:
    assert request_tags(None, {"metadata": {"feature": "x"}}, policy()) is None
    assert request_tags(b"", {}, policy()) is None
    assert request_tags(b" , ", {}, policy()) is None


def test_metadata_counts_only_when_configured_and_only_its_allowed_keys() -> None:
    body = {"metadata": {"feature": "chat", "user_ref": "u-1", "env": "dev"}}
    on = policy(from_metadata=True)
    assert request_tags(None, body, on) == "env=dev,feature=chat"  # user_ref is not a tag
    assert request_tags(None, body, policy()) is None
    assert request_tags(b"env=prod", body, on) == "env=prod,feature=chat"  # the header wins
    assert request_tags(None, {"metadata": "not an object"}, on) is None
    assert request_tags(None, {"metadata": {"feature": 3}}, on) is None  # not a string


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (b"featrue=search", "Unknown tag key 'featrue'; this tenant allows: env, feature."),
        (b"feature", "The tag 'feature' is not key=value."),
        (b"=search", "The tag '=search' is not key=value."),
        (b"feature=", "must be 1 or more of"),
        (b"feature=a b", "must be 1 or more of"),
        (b"feature=a;drop", "must be 1 or more of"),
        (b"feature=caf\xc3\xa9", "must be 1 or more of"),
        (b"feature=" + b"x" * 65, "longer than 64 characters"),
    ],
)
def test_a_bad_header_is_refused_not_dropped(header: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        request_tags(header, {}, policy())
    assert refused.value.code == "invalid_tags"
    assert refused.value.param == "x-gateway-tags"
    assert says in refused.value.message


def test_value_length_is_the_tenants_and_a_tenant_without_keys_allows_none() -> None:
    assert request_tags(b"feature=" + b"x" * 8, {}, policy(max_value_len=8)) == "feature=xxxxxxxx"
    with pytest.raises(BadRequest, match="longer than 8"):
        request_tags(b"feature=" + b"x" * 9, {}, policy(max_value_len=8))
    with pytest.raises(BadRequest, match="this tenant allows: none"):
        request_tags(b"env=prod", {}, policy(keys=()))


def test_a_bad_metadata_value_of_an_allowed_key_is_refused_naming_metadata() -> None:
    with pytest.raises(BadRequest) as refused:
        request_tags(None, {"metadata": {"env": "pro d"}}, policy(from_metadata=True))
    assert (refused.value.code, refused.value.param) == ("invalid_tags", "metadata")


def test_canonical_text_splits_back_exactly() -> None:
    text = canonical({"feature": "search", "env": "prod", "team": "a.b:c/d@e+f-g_h"})
    assert text == "env=prod,feature=search,team=a.b:c/d@e+f-g_h"
    assert [tag_value(text, k) for k in ("env", "feature", "team", "fea", "x")] == [
        "prod",
        "search",
        "a.b:c/d@e+f-g_h",
        None,
        None,
    ]
    assert canonical({}) is None
    assert tag_value(None, "env") is None
