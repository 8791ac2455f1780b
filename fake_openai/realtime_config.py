"""A Realtime session's configuration: the GA defaults ``session.created`` reports, the checks
on what a client may change, and how a new session takes its settings (defaults or a client
secret's, then the client's own, then the model in the URL)."""

from __future__ import annotations

import time
from typing import Any, Literal

from fake_openai.credentials import Secret
from fake_openai.realtime_audio import SAMPLE_RATE
from fake_openai.realtime_session import DEFAULT_MODEL, Modality, Session
from fake_openai.wire import ApiError, JsonObject, new_id

SESSION_TTL_S = 3600

_IMMUTABLE_SESSION_FIELDS = frozenset({"type", "object", "id", "expires_at", "model"})


def as_object(value: Any) -> JsonObject:
    """``value`` if it is a JSON object, else an empty one (for optional nested settings)."""
    return value if isinstance(value, dict) else {}


def default_session(session_id: str, model: str) -> JsonObject:
    """A GA session object as ``session.created`` reports it."""
    pcm = {"type": "audio/pcm", "rate": SAMPLE_RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + SESSION_TTL_S,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": None,
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def check_max_output_tokens(value: Any, param: str) -> int | Literal["inf"]:
    if value == "inf":
        return "inf"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ApiError(
            400,
            f"Invalid '{param}': expected an integer between 1 and 4096 or 'inf', "
            f"but got {value!r} instead.",
            param=param,
            code="invalid_value",
        )
    return value


def check_modalities(value: Any, param: str) -> Modality:
    if value == ["text"]:
        return "text"
    if value == ["audio"]:
        return "audio"
    raise ApiError(
        400,
        f"Invalid '{param}': expected ['text'] or ['audio'] (it is not possible to request "
        f"both), but got {value!r} instead.",
        param=param,
        code="invalid_value",
    )


def merge_session(config: JsonObject, update: Any, param: str = "session") -> JsonObject:
    """Apply a client's session fields over ``config`` (``audio.input``/``output`` merged).

    ``model`` and the server-set fields are kept; ``param`` prefixes the names in errors.
    """

    def at(name: str) -> str:
        return f"{param}.{name}" if param else name

    if not isinstance(update, dict):
        raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
    if update.get("type", config["type"]) != "realtime":
        raise ApiError(
            400,
            f"Invalid value for '{at('type')}': the fake supports only 'realtime' sessions.",
            param=at("type"),
            code="invalid_value",
        )
    if "max_output_tokens" in update:
        check_max_output_tokens(update["max_output_tokens"], at("max_output_tokens"))
    if "output_modalities" in update:
        check_modalities(update["output_modalities"], at("output_modalities"))
    merged = dict(config)
    for key, value in update.items():
        if key in _IMMUTABLE_SESSION_FIELDS:
            continue
        if key == "audio" and isinstance(value, dict):
            audio = dict(merged.get("audio") or {})
            for side in ("input", "output"):
                if isinstance(value.get(side), dict):
                    audio[side] = {**(audio.get(side) or {}), **value[side]}
            merged["audio"] = audio
        else:
            merged[key] = value
    return merged


def new_session(model: str | None, secret: Secret | None, update: Any) -> Session:
    """A session from (in increasing precedence) the defaults or a client secret's session,
    the ``update`` sent with it, and the ``model`` of the connection URL."""
    if not model and isinstance(update, dict) and isinstance(update.get("model"), str):
        model = update["model"]
    session_id = new_id("sess_", 12)
    if secret is not None:
        base = {**secret.session, "id": session_id}
        base["expires_at"] = int(time.time()) + SESSION_TTL_S
    else:
        base = default_session(session_id, model or DEFAULT_MODEL)
    if model:
        base["model"] = model
    config = merge_session(base, update) if update is not None else base
    return Session(id=session_id, config=config)
