"""Upstream client pool, header hygiene and transport-error mapping."""

from gateway.upstream.client import UpstreamClient, UpstreamPool, UpstreamResponse
from gateway.upstream.headers import client_response_headers, upstream_request_headers

__all__ = [
    "UpstreamClient",
    "UpstreamPool",
    "UpstreamResponse",
    "client_response_headers",
    "upstream_request_headers",
]
