"""Responses started by voice activity: their bound is reserved before they can start.

While the upstream's session has turn detection that creates responses
(``create_response``, true by default), the next such response's bound is
held in advance: reserved when the session starts or turn detection is turned
on, and again each time a response ends; given back when turn detection stops
creating responses or the session ends. A voice-started response takes the
held bound, so it never runs on a reservation made after it started.

When the next bound cannot be reserved (budget spent, rate limits), the
gateway fails closed: it sends the upstream a ``session.update`` turning
``create_response`` off (turn detection still commits audio; the client may
still ask for responses, each reserved as it is asked) and tells the client
with an ``error`` event. Turning it back on needs a bound reserved first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.errors.wire import realtime_event
from gateway.pipeline.meter import Call
from gateway.realtime.decision import Decision
from gateway.realtime.session_config import (
    is_absent,
    responds_by_itself,
    turn_detection_setting,
)

Reserve = Callable[[], Awaitable[Call]]


class VoiceStandby:
    """The bound held for the next response voice activity may start."""

    def __init__(self, reserve: Reserve, event_id: str) -> None:
        self._reserve = reserve
        self.event_id = event_id  # the gateway's own "create_response: false" update
        self.call: Call | None = None
        self.on = False  # the upstream's session creates responses by itself
        self.blocked = False  # the gateway turned that off: no bound could be reserved
        self._turn_detection: dict[str, Any] = {}

    def seen(self, session: Any) -> None:
        """The upstream's view of the session (``session.created``/``.updated``)."""
        setting = turn_detection_setting(session)
        if is_absent(setting):
            return
        self.on = responds_by_itself(setting)
        self._turn_detection = dict(setting) if isinstance(setting, dict) else {}

    async def keep(self, decision: Decision, close_on_budget: bool) -> None:
        """Hold a bound while turn detection may start a response; else turn that off."""
        if not self.on:
            self.release()
            return
        if self.call is not None:
            return
        try:
            self.call = await self._reserve()
        except GatewayError as err:
            decision.to_upstream.append(self.off_event())
            decision.to_client.append(realtime_event(err, None))
            self.blocked = True
            if err.code == "budget_exceeded" and close_on_budget:
                decision.close = "budget_exceeded"

    async def asked(self, session: dict[str, Any]) -> None:
        """A client's update that lets voice start responses: reserve first (or raise)."""
        setting = turn_detection_setting(session)
        if not responds_by_itself(setting) or self.call is not None:
            return
        self.call = await self._reserve()
        self.blocked = False

    def take(self) -> Call | None:
        """The held bound, for a response voice activity just started."""
        call, self.call = self.call, None
        return call

    def release(self) -> None:
        if self.call is not None:
            self.call.release()  # nothing ran on it: no ledger row
            self.call = None

    def held_off(self, session: dict[str, Any]) -> dict[str, Any]:
        """``session`` (the gateway's own update) without re-enabling what was turned off."""
        setting = turn_detection_setting(session)
        if not self.blocked or not responds_by_itself(setting):
            return session
        audio = dict(session.get("audio") or {})
        audio["input"] = {**(audio.get("input") or {}), "turn_detection": _off(setting)}
        return {**session, "audio": audio}

    def off_event(self) -> str:
        update = {
            "type": "session.update",
            "event_id": self.event_id,
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": _off(self._turn_detection)}},
            },
        }
        return orjson.dumps(update).decode()


def _off(turn_detection: Any) -> dict[str, Any]:
    base = turn_detection if isinstance(turn_detection, dict) else {}
    return {"type": "server_vad", **base, "create_response": False}
