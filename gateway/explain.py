"""``gateway route explain``: the routing decision for a request body, in words.

Platform teams run it in CI on their config repository to see which models a
request would reach, what each rung's output cap and budget reservation
would be, and why — all without calling an upstream.
"""

from __future__ import annotations

from gateway.auth.callers import Caller
from gateway.auth.principal import Principal
from gateway.config.runtime import RuntimeConfig
from gateway.errors import GatewayError
from gateway.ledger import nanos_to_usd
from gateway.pipeline.prepare import for_model, plan_call
from gateway.policy import resolve_tenant
from gateway.routing import features_of
from gateway.shapes.chat import CHAT
from gateway.shapes.endpoint import parse_json_object
from gateway.shapes.responses import RESPONSES


def explain(
    config: RuntimeConfig, tenant: str, raw: bytes, *, hint: str | None, split_key: str
) -> tuple[str, bool]:
    """What the pipeline would decide for this body (`gateway.pipeline.prepare`), in words."""
    lines: list[str] = []
    try:
        body = parse_json_object(raw)
        endpoint = CHAT if "messages" in body else RESPONSES
        principal = Principal(tenant, None, False, 0.0)
        caller = Caller(principal, resolve_tenant(config, principal))
        prepared = plan_call(config, caller, endpoint, body, raw, split_key=split_key, hint=hint)
        decision, features = prepared.plan, features_of(tenant, body, raw, hint)
        lines += [
            f"endpoint:     {endpoint.name}",
            f"tenant:       {tenant}" + ("" if tenant in config.tenants else " (defaults)"),
            f"requested:    {prepared.request.model}",
            f"decision:     {decision.why}",
            f"features:     input {features.input_bytes} bytes, tools={features.tools}, "
            f"structured={features.structured_output}, effort={features.reasoning_effort}, "
            f"hint={features.hint}",
            "ladder:       " + " -> ".join(m.name for m in decision.ladder),
            "escalates on: " + (", ".join(sorted(decision.escalate_on)) or "(nothing)"),
        ]
        if decision.buffer_streams:
            lines.append("streams:      buffered, so quality checks apply")
        if prepared.endpoint is not endpoint:
            lines.append(f"bridged:      served through upstream {prepared.endpoint.upstream_path}")
        if "repair" in decision.on_invalid_json:
            lines.append("broken JSON:  repaired by the same model once, per rung")
        if decision.shadow is not None:
            shadow, payer = decision.shadow, config.source.shadow.charge_to
            lines.append(
                f"shadow:       {' -> '.join(m.name for m in shadow.ladder)} on "
                f"{shadow.sample:.0%} of calls, after the answer, charged to {payer}"
            )
        for rung, model in enumerate(decision.ladder, 1):
            if config.pricing.price_for(model.upstream_model) is None:
                allowed = config.accounting.allow_unpriced
                bound = "no price: served as unpriced" if allowed else "no price: refused"
                stream = prepared.request.stream
                applied = endpoint.apply_policy(body, caller.policy, model, tenant, stream)
            else:
                attempt = for_model(prepared, model, first=False)
                bound, applied = f"reserves up to ${nanos_to_usd(attempt.bound)}", attempt.applied
            lines.append(
                f"  {rung}. {model.name} (upstream {model.upstream}: {model.upstream_model}): "
                f"output cap {applied.cap} ({applied.cap_action}), {bound}"
            )
    except GatewayError as err:
        lines.append(f"refused: {err.status} {err.code}: {err.message}")
        return "\n".join(lines), False
    return "\n".join(lines), True
