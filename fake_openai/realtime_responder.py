"""Sending one Realtime response to every socket of its session, event by event: the sequence
(in ``fake_openai/README.md``) paced and cut as its fault says, ended early by a cancel, and
the session freed for the next response however it ends."""

from __future__ import annotations

import asyncio

from fake_openai.encoding import realtime_error, realtime_event
from fake_openai.faults import Fault
from fake_openai.realtime_audio import AUDIO_BYTES_PER_WORD, OUTPUT_AUDIO_BYTES_PER_TOKEN, b64
from fake_openai.realtime_plan import Plan, finish_item, rate_limits_event, response_object
from fake_openai.realtime_session import Active, Item, Session, message
from fake_openai.sockets import Dropped, Pacer, SocketHub, broadcast, deliver_text
from fake_openai.state import FakeState
from fake_openai.wire import JsonObject, fault_error


class Responder:
    """Runs the responses of every Realtime session of one fake."""

    def __init__(self, state: FakeState, hub: SocketHub) -> None:
        self._state = state
        self._hub = hub

    def start(
        self, session: Session, plan: Plan, fault: Fault | None, before: list[JsonObject]
    ) -> None:
        """Send ``before`` and then the planned response, in the background."""
        active = session.active
        assert active is not None
        active.task = self._hub.run(self._run(session, plan, fault, active, before))

    async def _run(
        self,
        session: Session,
        plan: Plan,
        fault: Fault | None,
        active: Active,
        before: list[JsonObject],
    ) -> None:
        run: _Run | None = None
        try:
            for event in before:
                await broadcast(session.peers, event)
            if not await _answers(session, fault):
                return
            pacer = Pacer(
                self._state,
                fault,
                lambda event: broadcast(session.peers, event),
                session.cut,
                active.cancelled,
            )
            run = _Run(session, plan, active, pacer)
            await run.open()
            truncated = await run.words()
            await run.close(truncated)
        except Dropped:
            pass
        finally:
            if run is not None and run.item.obj["status"] == "in_progress":
                finish_item(run.item, plan, run.produced, True)
            if session.active is active:
                session.active = None


async def _answers(session: Session, fault: Fault | None) -> bool:
    """Apply what a fault does before a response starts; False if there is no response then."""
    if fault is not None and fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault is not None and fault.drop_connection:
        session.cut()
        return False
    if fault is not None and fault.body is not None:
        for peer in list(session.peers):
            await deliver_text(peer, fault.body.decode(errors="replace"))
        return False
    if fault is not None and fault.status is not None:
        await broadcast(session.peers, realtime_error(fault_error(fault.status), None))
        return False
    return True


class _Run:
    """One response on its way: the answer item and the words sent so far."""

    def __init__(self, session: Session, plan: Plan, active: Active, pacer: Pacer) -> None:
        self.session = session
        self.plan = plan
        self.active = active
        self.pacer = pacer
        self.produced: list[str] = []
        self.item = Item(message("assistant", "in_progress") | {"id": plan.item_id, "content": []})
        self.previous: str | None = None
        if plan.in_conversation:
            session.items.append(self.item)
            self.previous = session.previous_id(len(session.items) - 1)
        self.text = plan.modality == "text"
        self.where = {"response_id": plan.response_id, "item_id": self.item.id, "output_index": 0}

    async def open(self) -> None:
        """From ``response.created`` to the empty content part."""
        plan, send = self.plan, self.pacer.send
        created = response_object(self.session, plan, None, [])
        await send(realtime_event("response.created", response=created))
        await send(rate_limits_event(plan))
        added = {**self.item.obj, "content": []}
        await send(
            realtime_event(
                "response.output_item.added",
                response_id=plan.response_id,
                output_index=0,
                item=added,
            )
        )
        if plan.in_conversation:
            await send(
                realtime_event(
                    "conversation.item.added", item=added, previous_item_id=self.previous
                )
            )
        empty_part = (
            {"type": "text", "text": ""} if self.text else {"type": "audio", "transcript": ""}
        )
        await send(
            realtime_event(
                "response.content_part.added", **self.where, content_index=0, part=empty_part
            )
        )

    async def words(self) -> bool:
        """Send the answer a word at a time until done, capped or cancelled; True if capped."""
        plan, pacer = self.plan, self.pacer
        per_word = 1 if self.text else 1 + AUDIO_BYTES_PER_WORD // OUTPUT_AUDIO_BYTES_PER_TOKEN
        for delta in plan.deltas:
            if isinstance(plan.cap, int) and (len(self.produced) + 1) * per_word > plan.cap:
                return True
            await pacer.gate()
            if self.active.cancelled.is_set():
                break
            self.produced.append(delta)
            if self.text:
                await pacer.send(self._delta("response.output_text.delta", delta))
                continue
            await pacer.send(self._delta("response.output_audio_transcript.delta", delta))
            await pacer.send(
                self._delta("response.output_audio.delta", b64(bytes(AUDIO_BYTES_PER_WORD)))
            )
        return False

    def _delta(self, kind: str, delta: str) -> JsonObject:
        return realtime_event(kind, **self.where, content_index=0, delta=delta)

    async def close(self, truncated: bool) -> None:
        """From the done events of the content to ``response.done``."""
        session, plan, item, send = self.session, self.plan, self.item, self.pacer.send
        cancelled = self.active.cancelled.is_set()
        said = "".join(self.produced)
        finish_item(item, plan, self.produced, cancelled or truncated or plan.forced_incomplete)
        where = {**self.where, "content_index": 0}
        if self.text:
            await send(realtime_event("response.output_text.done", **where, text=said))
            part: JsonObject = {"type": "text", "text": said}
        else:
            await send(realtime_event("response.output_audio.done", **where))
            await send(
                realtime_event("response.output_audio_transcript.done", **where, transcript=said)
            )
            part = {"type": "audio", "transcript": said}
        await send(realtime_event("response.content_part.done", **where, part=part))
        await send(
            realtime_event(
                "response.output_item.done",
                response_id=plan.response_id,
                output_index=0,
                item=item.obj,
            )
        )
        if plan.in_conversation:
            await send(
                realtime_event(
                    "conversation.item.done", item=item.obj, previous_item_id=self.previous
                )
            )
        if cancelled:
            status, reason = "cancelled", "client_cancelled"
        elif truncated or plan.forced_incomplete:
            status, reason = "incomplete", "max_output_tokens"
        else:
            status, reason = "completed", None
        final = response_object(session, plan, (status, reason), [item.obj], self.produced)
        await self.pacer.gate()
        # Free the session first: a client may send response.create the moment it sees this.
        if session.active is self.active:
            session.active = None
        await send(realtime_event("response.done", response=final))
