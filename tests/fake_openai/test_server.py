"""The fake as a server: its model list, its refusals (wrong key, unknown path, broken
JSON), how it formats rate-limit resets and masked keys, and ``python -m fake_openai``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import openai
import pytest
from fake_clients import API_KEY

from fake_openai import MODELS, FakeOpenAIServer
from fake_openai.wire import go_duration, mask_key


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == list(MODELS)
    assert all(m.object == "model" and m.owned_by == "openai" for m in models.data)


def test_auth_failure_masks_key(fake: FakeOpenAIServer) -> None:
    wrong = "sk-wrong-key-abcdefghijWXYZ"
    bad = openai.OpenAI(base_url=fake.base_url, api_key=wrong, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-*****WXYZ" in caught.value.message
    assert wrong not in caught.value.message

    anonymous = httpx.get(f"{fake.base_url}/models")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "invalid_request_error"
    assert anonymous.headers["x-request-id"].startswith("req_")


def test_unknown_path_and_invalid_json(fake: FakeOpenAIServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    unknown = httpx.post(f"{fake.base_url}/nope", headers=headers, content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "Invalid URL (POST /v1/nope)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    broken = httpx.post(f"{fake.base_url}/responses", headers=headers, content=b"{not json")
    assert broken.status_code == 400
    assert "could not parse the JSON body" in broken.json()["error"]["message"]
    assert [r.path for r in fake.requests] == ["/v1/nope", "/v1/responses"]
    assert fake.requests[1].body == b"{not json"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/audio/speech",
            {"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": []},
        ),
        ("/containers", {"name": "x", "file_ids": [{}]}),
        ("/batches", {"input_file_id": "file-x", "endpoint": {}, "completion_window": "24h"}),
    ],
)
def test_a_parameter_of_the_wrong_type_is_a_400_never_a_500(
    fake: FakeOpenAIServer, path: str, body: dict[str, object]
) -> None:
    answer = httpx.post(
        f"{fake.base_url}{path}", headers={"Authorization": f"Bearer {API_KEY}"}, json=body
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (0.006, "6ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s")],
)
def test_go_duration(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_mask_key_never_reveals_short_keys() -> None:
    assert mask_key("sk-proj-abcdefghijklmnop") == "sk-*****mnop"
    assert mask_key("short") == "*****"


def test_cli_serves_and_prints_base_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_openai", "--port", "0", "--api-key", "k" * 12],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        client = openai.OpenAI(base_url=base_url, api_key="k" * 12, max_retries=0)
        assert [m.id for m in client.models.list().data] == list(MODELS)
    finally:
        process.terminate()
        process.wait(timeout=5)
