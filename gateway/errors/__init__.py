"""One error hierarchy: every rejection a client sees is a :class:`GatewayError`.

It carries the HTTP status OpenAI would use, OpenAI's ``type``/``code``/``param``
and any headers (``Retry-After`` on 429). How an error is written on each
transport (JSON body, SSE event per API, WebSocket event per API) is
`gateway.errors.wire`, the one place the wire shape is produced.

    GatewayError
    ├── BadRequest            400 invalid_request_error
    ├── AuthenticationFailed  401 invalid_request_error
    ├── PermissionDenied      403 permission_error
    ├── NotFound              404 invalid_request_error
    ├── MethodNotAllowed      405 invalid_request_error
    ├── RequestTimeout        408 invalid_request_error (a body that trickles in)
    ├── PayloadTooLarge       413 invalid_request_error
    ├── RateLimited           429 requests|tokens|...  (a tenant's limits; Retry-After)
    ├── BudgetExceeded        429 insufficient_quota   (x-should-retry: false)
    ├── InternalError         500 server_error
    ├── UpstreamError         502 upstream_error   (connect failure, bad upstream answer)
    ├── UpstreamUnavailable   503 upstream_error   (circuit open)
    ├── ServiceUnavailable    503 server_error     (the gateway's shared state is down)
    └── UpstreamTimeout       504 timeout_error
"""

from __future__ import annotations

import math


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


class BadRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"

    def __init__(self, message: str, *, code: str = "invalid_api_key") -> None:
        super().__init__(message, code=code, headers={"www-authenticate": "Bearer"})


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"


class RequestTimeout(GatewayError):
    status = 408
    type = "invalid_request_error"


class UpgradeRequired(GatewayError):
    """A WebSocket mode the upstream does not offer: clients fall back to HTTP at once."""

    status = 426
    type = "invalid_request_error"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"


class UpstreamUnavailable(GatewayError):
    status = 503
    type = "upstream_error"


class ServiceUnavailable(GatewayError):
    """The gateway itself cannot serve now (its shared state is unreachable): retry soon."""

    status = 503
    type = "server_error"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"


class InternalError(GatewayError):
    status = 500
    type = "server_error"


class RateLimited(GatewayError):
    """A tenant's rate, token or concurrency limit; ``kind`` is OpenAI's error type for it."""

    status = 429
    type = "requests"

    def __init__(
        self, message: str, *, code: str, retry_after_s: float, headers: dict[str, str], kind: str
    ) -> None:
        retry = max(1, math.ceil(retry_after_s)) if math.isfinite(retry_after_s) else 60
        super().__init__(
            message,
            code=code,
            headers={**headers, "retry-after": str(retry), "retry-after-ms": str(retry * 1000)},
        )
        self.type = kind
        if not math.isfinite(retry_after_s):
            self.headers["x-should-retry"] = "false"


class BudgetExceeded(GatewayError):
    """Not retryable soon: the SDK would retry a 429, so ``x-should-retry: false`` says not to."""

    status = 429
    type = "insufficient_quota"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(
            message,
            code="budget_exceeded",
            headers={
                "retry-after": str(max(1, math.ceil(retry_after_s))),
                "x-should-retry": "false",
            },
        )
