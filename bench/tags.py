"""What cost-attribution tags add to one request, in CPU µs, measured in-process.

Times the ``x-gateway-tags`` header lookup and `gateway.policy.tags.request_tags`
(what `prepare` runs once per metered call) with the process CPU clock, for the
cases a request can be in: no header
and no metadata reading (most calls), a two-tag header, tags read from
``metadata`` too, and a refused header (the cost of the 400's exception). The
ledger's extra column is one more string in the row tuple the writer already
builds: not timed apart here (see `bench/metering.py`).

Usage: ``bench/tags.py [--requests N] [--core-ms MS]``; ``--core-ms`` is the
gateway's CPU ms/req to express the cost as a share of (default 0.263, the
``responses`` scenario in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procs import per_call_us  # noqa: E402

from gateway.api.asgi import header  # noqa: E402
from gateway.config.runtime import Policy  # noqa: E402
from gateway.config.tenant import TagsPolicy  # noqa: E402
from gateway.errors import BadRequest  # noqa: E402
from gateway.policy.tags import HEADER, request_tags  # noqa: E402

ALLOWED = frozenset({"gpt-5-nano"})
PLAIN = Policy(enabled=True, allowed_models=ALLOWED)
TAGGED = Policy(enabled=True, allowed_models=ALLOWED, tags=TagsPolicy(keys=["feature", "env"]))
FROM_METADATA = Policy(
    enabled=True,
    allowed_models=ALLOWED,
    tags=TagsPolicy(keys=["feature", "env", "team"], from_metadata=True),
)
BODY = {"model": "gpt-5-nano", "input": "hello"}
# What the OpenAI Python SDK sends (15 headers): the lookup scans them all when no tags come.
SDK_HEADERS = [
    (name.encode(), b"x")
    for name in (
        "host", "accept-encoding", "connection", "accept", "content-type", "user-agent",
        "x-stainless-lang", "x-stainless-package-version", "x-stainless-os",
        "x-stainless-arch", "x-stainless-runtime", "x-stainless-runtime-version",
        "authorization", "x-stainless-retry-count", "content-length",
    )
]  # fmt: skip
SCOPE = {"headers": SDK_HEADERS}
META_BODY = {**BODY, "metadata": {"feature": "search", "env": "prod", "user": "u-1"}}


def refused() -> None:
    with contextlib.suppress(BadRequest):
        request_tags(b"featrue=search", BODY, TAGGED)


CASES: dict[str, Callable[[], object]] = {
    "header lookup, 15 headers, none of them tags": lambda: header(SCOPE, HEADER),
    "no header (tenant without tags)": lambda: request_tags(None, BODY, PLAIN),
    "no header (tenant with tags)": lambda: request_tags(None, BODY, TAGGED),
    "header, 2 tags": lambda: request_tags(b"feature=search,env=prod", BODY, TAGGED),
    "metadata, 2 of 3 keys": lambda: request_tags(None, META_BODY, FROM_METADATA),
    "header + metadata": lambda: request_tags(b"team=ads", META_BODY, FROM_METADATA),
    "refused header (400)": refused,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--core-ms", type=float, default=0.263)
    args = parser.parse_args()
    print("| case | CPU µs/req | share of the gateway's CPU/req |")
    print("|---|---|---|")
    for name, fn in CASES.items():
        us = per_call_us(fn, args.requests)
        print(f"| {name} | {us:.2f} | {us / (args.core_ms * 1000):.2%} |")
    print(f"\nGateway: {args.core_ms} CPU ms/req (--core-ms).")


if __name__ == "__main__":
    main()
