"""What every endpoint of the fake shares on the wire: the error envelope, object ids, the
paths that more than one module answers, and the rate-limit figures the headers report.

The fake is the bottom of the test pyramid, so its error texts are OpenAI's own, word for word:
tests of the gateway compare them.
"""

from __future__ import annotations

import random
import secrets
import string
from typing import Any

JsonObject = dict[str, Any]

RESPONSES_PATH = "/v1/responses"
REALTIME_PATH = "/v1/realtime"
CALLS_PATH = "/v1/realtime/calls"

RATE_LIMIT_REQUESTS = 10_000
RATE_LIMIT_TOKENS = 30_000_000

_OBFUSCATION_ALPHABET = string.ascii_letters + string.digits


class ApiError(Exception):
    """An error the handlers turn into OpenAI's ``{"error": {...}}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> JsonObject:
        """The error envelope: ``{"error": {message, type, param, code}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def missing_parameter(name: str) -> ApiError:
    """OpenAI's 400 for a required parameter the request lacks."""
    return ApiError(
        400,
        f"Missing required parameter: '{name}'.",
        param=name,
        code="missing_required_parameter",
    )


def fault_error(status: int) -> ApiError:
    """The error an injected ``Fault.status`` stands for, worded as OpenAI words it."""
    if status == 429:
        return ApiError(
            429,
            "Rate limit reached for requests per min (RPM): Limit 10000, Used 10000, "
            "Requested 1. Please try again in 6ms.",
            type_="requests",
            code="rate_limit_exceeded",
        )
    if status >= 500:
        return ApiError(
            status,
            "The server had an error while processing your request. Sorry about that!",
            type_="server_error",
        )
    return ApiError(status, f"Injected fault: HTTP {status}.")


def new_id(prefix: str, nbytes: int = 24) -> str:
    """A fresh object id: ``prefix`` and ``nbytes`` random bytes in hex."""
    return f"{prefix}{secrets.token_hex(nbytes)}"


def new_file_id(prefix: str = "file-") -> str:
    """A file-style id: ``prefix`` and 22 random letters and digits (``file-AbC…``)."""
    return prefix + "".join(secrets.choice(_OBFUSCATION_ALPHABET) for _ in range(22))


def obfuscation() -> str:
    """Random padding of 2 to 16 characters, as streamed events carry to vary their length."""
    return "".join(random.choices(_OBFUSCATION_ALPHABET, k=random.randint(2, 16)))


def go_duration(seconds: float) -> str:
    """Format a duration like Go's ``time.Duration`` (``6ms``, ``1.5s``, ``6m0s``).

    OpenAI's ``x-ratelimit-reset-*`` headers use this format; clients must not read epochs.
    """
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    if seconds < 1:
        return f"{millis}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s"


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI echoes it in 401 messages, never revealing it whole."""
    if len(key) <= 10:
        return "*****"
    return f"{key[:3]}*****{key[-4:]}"
