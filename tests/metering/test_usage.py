"""Usage normalisation: the three dialects become disjoint counts, nothing counted twice."""

from __future__ import annotations

from typing import Any

from gateway.metering.usage import Usage, from_chat, from_realtime, from_responses


def test_responses_usage_splits_cached_from_input_and_keeps_reasoning_inside_output() -> None:
    usage = from_responses(
        {
            "input_tokens": 1200,
            "input_tokens_details": {"cached_tokens": 1024},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 192},
            "total_tokens": 1500,
        }
    )
    assert usage == Usage(
        input_tokens=176, cached_input_tokens=1024, output_tokens=300, reasoning_tokens=192
    )
    assert usage.total_input == 1200
    assert usage.total_output == 300


def test_responses_hosted_tool_calls_from_items_and_tool_usage() -> None:
    response: dict[str, Any] = {
        "output": [
            {"type": "web_search_call"},
            {"type": "file_search_call"},
            {"type": "message"},
            {"type": "web_search_call"},
        ],
    }
    assert dict(from_responses({"input_tokens": 1}, response).tool_calls) == {
        "web_search": 2,
        "file_search": 1,
    }
    response["tool_usage"] = {"web_search": {"num_requests": 3}}
    assert from_responses({}, response).tool_calls["web_search"] == 3


def test_chat_usage_separates_audio_image_and_cached() -> None:
    usage = from_chat(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "prompt_tokens_details": {
                "cached_tokens": 1024,
                "audio_tokens": 50,
                "image_tokens": 20,
            },
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 40},
        }
    )
    assert usage == Usage(
        input_tokens=106,
        cached_input_tokens=1024,
        output_tokens=260,
        reasoning_tokens=192,
        audio_input_tokens=50,
        audio_output_tokens=40,
        image_input_tokens=20,
    )
    assert usage.total_input == 1200
    assert usage.total_output == 300


def test_realtime_usage_per_modality() -> None:
    usage = from_realtime(
        {
            "total_tokens": 900,
            "input_tokens": 700,
            "output_tokens": 200,
            "input_token_details": {
                "text_tokens": 120,
                "audio_tokens": 560,
                "image_tokens": 20,
                "cached_tokens": 512,
                "cached_tokens_details": {
                    "text_tokens": 96,
                    "audio_tokens": 416,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": 40, "audio_tokens": 160},
        }
    )
    assert usage == Usage(
        input_tokens=24,
        cached_input_tokens=96,
        output_tokens=40,
        audio_input_tokens=144,
        cached_audio_input_tokens=416,
        audio_output_tokens=160,
        image_input_tokens=20,
    )
    assert usage.total_input == 700
    assert usage.total_output == 200


def test_missing_and_malformed_fields_count_as_zero() -> None:
    assert from_responses({}) == Usage()
    assert from_chat({"prompt_tokens": "12", "completion_tokens": None}) == Usage()
