"""Every OpenAI path the gateway serves maps to one handler; anything else maps to none."""

from __future__ import annotations

import pytest

from gateway.api import router
from gateway.shapes.objects import OBJECT_OPS


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/v1/responses", {}),
        ("POST", "/v1/responses/compact", {}),
        ("POST", "/v1/responses/input_tokens", {}),
        ("GET", "/v1/responses/resp_1", {"response_id": "resp_1"}),
        ("POST", "/v1/responses/resp_1/cancel", {"response_id": "resp_1"}),
        ("GET", "/v1/chat/completions", {}),
        ("DELETE", "/v1/chat/completions/chatcmpl-1", {"completion_id": "chatcmpl-1"}),
        ("GET", "/v1/files/file-1/content", {"file_id": "file-1"}),
        (
            "GET",
            "/v1/vector_stores/vs_1/files/file-1",
            {"vector_store_id": "vs_1", "file_id": "file-1"},
        ),
        ("POST", "/v1/realtime/calls/rtc_1/hangup", {"call_id": "rtc_1"}),
    ],
)
def test_a_served_path_finds_its_handler_and_ids(
    method: str, path: str, params: dict[str, str]
) -> None:
    found = router.match(method, path)
    assert found is not None
    assert found[1] == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/embeddings"),  # a served path, another method
        ("POST", "/v1/files/file-1"),
        ("POST", "/v1/fine_tuning/jobs"),  # a family the gateway does not serve
        ("GET", "/v1/files/../admin"),  # not an id
        ("GET", "/v1/files/" + "x" * 129),  # longer than any id
    ],
)
def test_anything_else_finds_none(method: str, path: str) -> None:
    assert router.match(method, path) is None


def test_every_object_operation_is_routed_once() -> None:
    for op in OBJECT_OPS:
        example = op.path.replace("{", "").replace("}", "")
        found = router.match(op.method, example)
        assert found is not None, op.name
    routes = [(method, path) for method, path, _ in router._TABLE]
    assert len(routes) == len(set(routes))
