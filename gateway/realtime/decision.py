"""What a socket session decides about one frame; the relay carries it out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Decision:
    forward: str | None = None  # text to pass on (the original when unchanged)
    to_client: list[str] = field(default_factory=list)  # events the gateway sends the client
    to_upstream: list[str] = field(default_factory=list)  # events the gateway sends upstream
    close: str | None = None  # end the session, for this reason
