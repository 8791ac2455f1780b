"""Alerts before the refusal: budget thresholds, forecast exhaustion and anomalies, sent to
webhooks once per crossing per window across every replica.

`crossings` decides (pure); `claims` and `redis_claims` make one replica the sender;
`delivery` and `payload` put it on the wire; `evaluator` runs the rounds.
"""

from gateway.alerts.claims import Claims, MemoryClaims
from gateway.alerts.evaluator import AlertEvaluator
from gateway.alerts.events import AlertEvent
from gateway.alerts.signals import NO_SIGNALS, SignalSource, SpendSignal

__all__ = [
    "NO_SIGNALS",
    "AlertEvaluator",
    "AlertEvent",
    "Claims",
    "MemoryClaims",
    "SignalSource",
    "SpendSignal",
]
