"""Limits and budgets in Redis, shared by every replica (`RedisQuota`)."""

from gateway.quota.shared.quota import RedisQuota

__all__ = ["RedisQuota"]
