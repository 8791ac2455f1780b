"""Static fake OpenAI upstream for the benchmark: fixed payloads served by nginx.

nginx cannot look at the JSON body, so the streaming variant of an endpoint is picked by
the request's ``Accept`` header: ``text/event-stream`` gets the SSE body, anything else the
JSON body. Every API location also checks ``Authorization: Bearer <UPSTREAM_API_KEY>`` so a
proxy that forwards the client's token instead of the upstream key fails the preflight.

JSON bodies are inlined with ``return 200 '...'`` (fastest path in nginx). SSE bodies are
larger than nginx's 4 KB limit on one configuration token, so they are files, served by the
static module through an internal location (``error_page 405 =200 $uri`` turns the POST
into a GET there, which the static module accepts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UPSTREAM_API_KEY = "sk-bench-key"
RESPONSE_ID = "resp_bench0123456789abcdef0123456789abcdef0123456789"
REASONING_ID = "rs_bench0123456789abcdef0123456789abcdef0123456789ab"
MESSAGE_ID = "msg_bench0123456789abcdef0123456789abcdef0123456789"
CHAT_ID = "chatcmpl-benchABCDEFGHIJKLMNOPQRSTUVWXYZ01"
MODEL = "gpt-5-nano-2025-08-07"
CREATED_AT = 1764032400
# ~20 deltas, split the way a tokenizer would.
DELTAS = [
    "Hello",
    "!",
    " I",
    " hope",
    " you",
    " are",
    " having",
    " a",
    " wonderful",
    " day",
    ",",
    " and",
    " it",
    " is",
    " great",
    " to",
    " meet",
    " you",
    " today",
    ".",
]
USAGE = {
    "input_tokens": 14,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 21,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 35,
}


def _text() -> str:
    return "".join(DELTAS)


def _message_item(status: str, text: str | None) -> dict[str, Any]:
    content = (
        []
        if text is None
        else [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]
    )
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _response(status: str, *, completed: bool) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if completed:
        output = [
            {"id": REASONING_ID, "type": "reasoning", "summary": []},
            _message_item("completed", _text()),
        ]
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": 64,
        "max_tool_calls": None,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": "minimal", "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": USAGE if completed else None,
        "user": None,
        "metadata": {},
    }


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def responses_json() -> str:
    """Non-streaming ``POST /v1/responses`` body (~1.5 KB, indented like OpenAI's)."""
    return json.dumps(_response("completed", completed=True), indent=2) + "\n"


def responses_sse() -> str:
    """Streaming ``POST /v1/responses`` body: the full Responses event sequence."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response("in_progress", completed=False)},
        {"type": "response.in_progress", "response": _response("in_progress", completed=False)},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": REASONING_ID, "type": "reasoning", "summary": []},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": REASONING_ID, "type": "reasoning", "summary": []},
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": _message_item("in_progress", None),
        },
        {
            "type": "response.content_part.added",
            "item_id": MESSAGE_ID,
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
        },
    ]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": MESSAGE_ID,
            "output_index": 1,
            "content_index": 0,
            "delta": delta,
            "logprobs": [],
            "obfuscation": "Zq3kP0vB",
        }
        for delta in DELTAS
    ]
    events += [
        {
            "type": "response.output_text.done",
            "item_id": MESSAGE_ID,
            "output_index": 1,
            "content_index": 0,
            "text": _text(),
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": MESSAGE_ID,
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": _text()},
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": _message_item("completed", _text()),
        },
        {"type": "response.completed", "response": _response("completed", completed=True)},
    ]
    chunks = []
    for seq, event in enumerate(events):
        event = {"type": event["type"], "sequence_number": seq, **event}
        chunks.append(f"event: {event['type']}\ndata: {_compact(event)}\n\n")
    return "".join(chunks)


def _chat_base() -> dict[str, Any]:
    return {
        "id": CHAT_ID,
        "object": "chat.completion",
        "created": CREATED_AT,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": None,
    }


def chat_json() -> str:
    """Non-streaming ``POST /v1/chat/completions`` body."""
    body = {
        **_chat_base(),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": _text(),
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 21,
            "total_tokens": 35,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
    return json.dumps(body, indent=2) + "\n"


def chat_sse() -> str:
    """Streaming ``POST /v1/chat/completions`` body with usage asked for, as OpenAI sends it:
    ``"usage": null`` on every chunk, then the usage chunk and ``[DONE]``."""
    base = {**_chat_base(), "object": "chat.completion.chunk", "obfuscation": "abc"}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], "usage": None}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks += [chunk({"content": delta}, None) for delta in DELTAS]
    chunks.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 14, "completion_tokens": 21, "total_tokens": 35}
    chunks.append({**base, "choices": [], "usage": usage})
    return "".join(f"data: {_compact(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _nginx_string(text: str) -> str:
    """Quote ``text`` as one single-quoted nginx configuration token."""
    if "$" in text:
        raise ValueError("nginx would expand '$' in a return body")
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    if len(escaped) > 4000:
        raise ValueError("body too long for one nginx configuration token")
    return f"'{escaped}'"


def write_nginx_config(workdir: Path, port: int) -> Path:
    """Write the nginx config and SSE files into ``workdir``; return the config path."""
    static = workdir / "static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "responses.sse").write_text(responses_sse())
    (static / "chat.sse").write_text(chat_sse())
    # When run as root, the nginx worker runs as nobody and must read these.
    for path in (workdir, static):
        path.chmod(0o755)

    unauthorized = _nginx_string(
        '{"error":{"message":"bench upstream: wrong API key","type":"invalid_request_error"}}'
    )
    config = f"""\
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    server_tokens off;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;

    map $http_authorization $bench_bad_key {{
        "Bearer {UPSTREAM_API_KEY}" 0;
        default 1;
    }}

    server {{
        listen 127.0.0.1:{port};

        location = /healthz {{
            default_type text/plain;
            return 200 'ok';
        }}

        location = /v1/responses {{
            if ($bench_bad_key) {{
                return 401 {unauthorized};
            }}
            if ($http_accept ~* "text/event-stream") {{
                rewrite ^ /_static/responses.sse last;
            }}
            default_type application/json;
            return 200 {_nginx_string(responses_json())};
        }}

        location = /v1/chat/completions {{
            if ($bench_bad_key) {{
                return 401 {unauthorized};
            }}
            if ($http_accept ~* "text/event-stream") {{
                rewrite ^ /_static/chat.sse last;
            }}
            default_type application/json;
            return 200 {_nginx_string(chat_json())};
        }}

        location /_static/ {{
            internal;
            alias {static}/;
            types {{ }}
            default_type text/event-stream;
            etag off;
            add_header Cache-Control no-cache;
            error_page 405 =200 $uri;
        }}
    }}
}}
"""
    path = workdir / "nginx.conf"
    path.write_text(config)
    return path
