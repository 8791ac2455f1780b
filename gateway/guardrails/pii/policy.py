"""A tenant's redaction policy applied to one request, before admission.

Run between :func:`gateway.pipeline.prepare.prepare` and the first attempt:
the body is final there (parsed, planned, ids checked) and nothing has been
reserved yet, so a blocked call costs the tenant nothing. What is logged and
counted is the kinds found and how many, never a value.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from gateway.config.pii import PiiEntity, PiiPolicy
from gateway.errors import BadRequest
from gateway.guardrails.pii.detect import Detector, Kind
from gateway.guardrails.pii.mask import OPEN, Vault, mask_text
from gateway.guardrails.pii.texts import text_slots
from gateway.telemetry.labels import tenant_label

if TYPE_CHECKING:
    from gateway.pipeline.prepare import Prepared
    from gateway.telemetry.metrics import Metrics

log = logging.getLogger("gateway.guardrails.pii")

FAMILIES = frozenset({"responses", "chat"})
# Past this much text a scan (~0.25 µs a character) would hold the event loop too long.
THREAD_ABOVE = 16 * 1024

ENTITY_KINDS: dict[PiiEntity, Kind] = {
    "email": "EMAIL", "phone": "PHONE", "card": "CARD", "iban": "IBAN",
    "national_id": "NATID", "ip": "IP", "secret": "SECRET",
}  # fmt: skip
KIND_ENTITIES: dict[Kind, PiiEntity] = {kind: entity for entity, kind in ENTITY_KINDS.items()}
ACTIONS = {"log": "logged", "mask": "masked", "block": "blocked"}


@lru_cache(maxsize=64)
def detector_for(entities: frozenset[PiiEntity]) -> Detector:
    """One detector per set of entities, shared by every tenant asking for that set."""
    return Detector(frozenset(ENTITY_KINDS[e] for e in entities))


def scan(body: dict[str, Any], policy: PiiPolicy, vault: Vault | None) -> Counter[Kind]:
    """The kinds found in the body's texts; with a vault, each value replaced in place."""
    detector = detector_for(frozenset(policy.entities))
    counts: Counter[Kind] = Counter()
    for holder, key in text_slots(body):
        if vault is None:
            counts.update(f.kind for f in detector.find(holder[key]))
        else:
            holder[key], kinds = mask_text(detector, holder[key], vault)
            counts.update(kinds)
    return counts


async def redact(prepared: Prepared, metrics: Metrics, request_id: str) -> Prepared:
    """The request as the tenant's policy lets it go upstream (masked), or a refusal."""
    policy = prepared.caller.policy.pii
    if policy.mode == "off" or prepared.endpoint.family not in FAMILIES:
        return prepared
    body = prepared.body
    vault = None
    if policy.mode == "mask":
        raw = prepared.raw  # holds text shaped like a placeholder: the gateway's get a nonce
        vault = Vault(nonced=any(mark in raw for mark in (OPEN.encode(), b"\\u00ab", b"\\u00AB")))
    if len(prepared.raw) > THREAD_ABOVE:
        counts = await asyncio.to_thread(scan, body, policy, vault)
    else:
        counts = scan(body, policy, vault)
    if not counts:
        return prepared
    tenant = tenant_label(prepared.config, prepared.caller.tenant)
    report(tenant, request_id, policy, counts, metrics)
    if policy.mode == "block":
        raise refusal(counts)
    if vault is None:
        return prepared
    restoring = vault if policy.restore else None
    return dataclasses.replace(prepared, body=body, raw=orjson.dumps(body), pii=restoring)


def refusal(counts: Counter[Kind]) -> BadRequest:
    """The 400 of a blocked call: the kinds found, never what they were."""
    return BadRequest(
        "The request contains "
        + ", ".join(KIND_ENTITIES[k] for k in sorted(counts))
        + "; this tenant's policy refuses requests carrying personal data or secrets.",
        code="pii_detected",
    )


def report(
    tenant: str,
    request_id: str | None,
    policy: PiiPolicy,
    counts: Counter[Kind],
    metrics: Metrics | None,
) -> None:
    """Kinds and counts only: a value never reaches a log line, a label or a trace."""
    action = ACTIONS[policy.mode]
    if metrics is not None:
        for kind, n in counts.items():
            metrics.pii_detections(tenant, KIND_ENTITIES[kind], action).inc(n)
    found = {KIND_ENTITIES[k]: n for k, n in sorted(counts.items())}
    log.info(
        "pii %s: %s",
        action,
        ", ".join(f"{k}={n}" for k, n in found.items()),
        extra={"fields": {"request_id": request_id, "tenant": tenant, "action": action,
                          "pii": found}},
    )  # fmt: skip
