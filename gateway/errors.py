"""One error hierarchy, mapped to OpenAI's error shape in one place.

Every rejection a client sees is a :class:`GatewayError`: it carries the HTTP
status OpenAI would use, OpenAI's ``type``/``code``/``param`` and any headers
(``Retry-After`` on 429). :meth:`GatewayError.body` is the single place the wire
shape is produced, so handlers never build error JSON by hand.

    GatewayError
    ├── BadRequest            400 invalid_request_error
    ├── AuthenticationFailed  401 invalid_request_error
    ├── PermissionDenied      403 permission_error
    ├── NotFound              404 invalid_request_error
    ├── MethodNotAllowed      405 invalid_request_error
    ├── PayloadTooLarge       413 invalid_request_error
    ├── UpstreamError         502 upstream_error   (connect failure, bad upstream answer)
    ├── UpstreamUnavailable   503 upstream_error   (circuit open)
    └── UpstreamTimeout       504 timeout_error
"""

from __future__ import annotations

import orjson


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

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


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
