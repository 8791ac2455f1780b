"""Routes, ladders and escalation: which model serves a call, and when the next one tries."""

from gateway.routing.classify import classify
from gateway.routing.plan import NO_FEATURES, Features, Plan, features_of, plan, split_point

__all__ = ["NO_FEATURES", "Features", "Plan", "classify", "features_of", "plan", "split_point"]
