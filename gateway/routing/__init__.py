"""Routes, ladders and escalation: which model serves a call, and when the next one tries."""

from gateway.routing import deprecation
from gateway.routing.classify import classify
from gateway.routing.plan import NO_FEATURES, Features, Plan, features_of, plan, split_point

__all__ = [
    "NO_FEATURES",
    "Features",
    "Plan",
    "classify",
    "deprecation",
    "features_of",
    "plan",
    "split_point",
]
