"""A tenant's redaction policy on Realtime text items (``conversation.item.create``).

A session's items share one vault, so a value is the same placeholder in every
turn, and with ``restore`` the session puts the values back in the text and
transcripts its client gets (`gateway.realtime.session_events.restored`). Audio is
neither scanned nor restored.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import RuntimeConfig
from gateway.errors.wire import realtime_event
from gateway.guardrails.pii.mask import Vault
from gateway.guardrails.pii.policy import refusal, report, scan
from gateway.realtime.decision import Decision
from gateway.telemetry.labels import tenant_label


def screen_item(
    event: dict[str, Any], text: str, vault: Vault, config: RuntimeConfig, caller: Caller
) -> Decision:
    """The item as the policy lets it go upstream: as it came, masked, or refused."""
    policy = caller.policy.pii
    item = event.get("item")
    if policy.mode == "off" or not isinstance(item, dict):
        return Decision(forward=text)
    body = {"input": [item]}  # an item is shaped like a Responses input item
    counts = scan(body, policy, vault if policy.mode == "mask" else None)
    if not counts:
        return Decision(forward=text)
    client_event_id = event.get("event_id")
    tenant = tenant_label(config, caller.tenant)
    report(tenant, client_event_id if isinstance(client_event_id, str) else None, policy,
           counts, None)  # fmt: skip
    if policy.mode == "block":
        event_id = client_event_id if isinstance(client_event_id, str) else None
        return Decision(to_client=[realtime_event(refusal(counts), event_id)])
    if policy.mode == "mask":
        return Decision(forward=orjson.dumps(event).decode())
    return Decision(forward=text)
