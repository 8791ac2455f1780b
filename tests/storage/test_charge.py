"""How a day of storage becomes a metered call: its units, its ledger key, its policy."""

from __future__ import annotations

from datetime import date

from storage.rig import gateway_config

from gateway.storage.charge import charge_id, storage_policy, units_of

DAY = date(2026, 3, 9)
UPSTREAM = "http://upstream.test/v1"


def test_a_unit_is_a_started_megabyte() -> None:
    assert [units_of(b) for b in (0, 1, 1_000_000, 1_000_001, 2_500_000)] == [0, 1, 1, 2, 3]


def test_the_ledger_key_is_the_same_on_every_replica_and_fits_its_column() -> None:
    assert charge_id("vs_abc", DAY) == "storage-20260309-vs_abc"
    assert charge_id("vs_abc", date(2026, 3, 10)) != charge_id("vs_abc", DAY)
    long_a, long_b = "vs_" + "a" * 120, "vs_" + "a" * 119 + "b"
    assert len(charge_id(long_a, DAY)) == 64
    assert charge_id(long_a, DAY) == charge_id(long_a, DAY)
    assert charge_id(long_a, DAY) != charge_id(long_b, DAY)


def test_storage_counts_against_budgets_only_under_the_tenants_policy_or_the_defaults() -> None:
    limits = {"rpm": 1, "tpm": 10, "concurrent": 1}
    limited = {"models": ["*"], "budgets": {"daily_usd": 2}, "limits": limits}
    config = gateway_config(UPSTREAM, tenants={"limited": limited})
    policy = storage_policy(config, "limited")
    assert (policy.rpm, policy.tpm, policy.concurrent) == (None, None, None)
    assert policy.budgets == config.tenants["limited"].budgets != ()
    assert storage_policy(config, "unknown").budgets == (), "no tenant, no defaults: no budget"

    defaults = {"defaults": {"models": ["*"], "budgets": {"monthly_usd": 5}}}
    with_defaults = gateway_config(UPSTREAM, patch=defaults)
    assert with_defaults.defaults is not None
    assert storage_policy(with_defaults, "unknown").budgets == with_defaults.defaults.budgets != ()
