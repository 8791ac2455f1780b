"""``python -m fake_openai``: serve the fake OpenAI API until interrupted.

Used by the gateway's demo mode and for poking at the gateway by hand without an OpenAI key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from fake_openai.app import FakeOpenAI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fake_openai", description="Serve a fake OpenAI API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--api-key", default=None, help="require 'Authorization: Bearer KEY' on every request"
    )
    parser.add_argument(
        "--event-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed events, to make streaming visible",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeOpenAI(api_key=args.api_key, event_delay_s=args.event_delay)
    base_url = await fake.start(args.host, args.port)
    # The base URL is the one line a launcher script needs; flush so a pipe sees it at once.
    print(base_url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
