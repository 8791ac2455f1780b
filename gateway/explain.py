"""``gateway route explain``: the routing decision for a request body, in words.

Platform teams run it in CI on their config repository to see which models a
request would reach, what each rung's output cap and budget reservation
would be, and why — all without calling an upstream.
"""

from __future__ import annotations

import copy

from gateway.auth.principal import Principal
from gateway.config.runtime import RuntimeConfig
from gateway.errors import GatewayError
from gateway.ledger import nanos_to_usd
from gateway.policy import check_requested, resolve_tenant
from gateway.quota.bound import admission_bound
from gateway.routing import features_of, plan
from gateway.shapes.chat import CHAT
from gateway.shapes.endpoint import parse_json_object
from gateway.shapes.responses import RESPONSES


def explain(
    config: RuntimeConfig, tenant: str, raw: bytes, *, hint: str | None, split_key: str
) -> tuple[str, bool]:
    lines: list[str] = []
    try:
        body = parse_json_object(raw)
        shape = CHAT if "messages" in body else RESPONSES
        req = shape.parse(body)
        policy = resolve_tenant(config, Principal(tenant, None, False, 0.0))
        check_requested(config, policy, req.model)
        features = features_of(tenant, body, raw, hint)
        decision = plan(config, req.model, features, split_key)
        lines += [
            f"endpoint:     {shape.name}",
            f"tenant:       {tenant}" + ("" if tenant in config.tenants else " (defaults)"),
            f"requested:    {req.model}",
            f"decision:     {decision.why}",
            f"features:     input {features.input_bytes} bytes, tools={features.tools}, "
            f"structured={features.structured_output}, effort={features.reasoning_effort}, "
            f"hint={features.hint}",
            "ladder:       " + " -> ".join(m.name for m in decision.ladder),
            "escalates on: " + (", ".join(sorted(decision.escalate_on)) or "(nothing)"),
        ]
        if decision.buffer_streams:
            lines.append("streams:      buffered, so quality checks apply")
        for rung, model in enumerate(decision.ladder, 1):
            attempt = copy.deepcopy(body)
            applied = shape.apply_policy(attempt, policy, model, tenant, req.stream)
            price = config.pricing.price_for(model.upstream_model)
            if price is not None:
                nanos = admission_bound(raw, attempt, model, price, applied, config.pricing)
                bound = f"reserves up to ${nanos_to_usd(nanos)}"
            elif config.accounting.allow_unpriced:
                bound = "no price: served as unpriced"
            else:
                bound = "no price: refused"
            lines.append(
                f"  {rung}. {model.name} (upstream {model.upstream}: {model.upstream_model}): "
                f"output cap {applied.cap} ({applied.cap_action}), {bound}"
            )
    except GatewayError as err:
        lines.append(f"refused: {err.status} {err.code}: {err.message}")
        return "\n".join(lines), False
    return "\n".join(lines), True
