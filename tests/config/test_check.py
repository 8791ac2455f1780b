"""``gateway config check``: a config checked as a config, a price file as a price file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config.check import check_config, is_pricing_file
from gateway.routing import deprecation

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "gateway.yaml"
PRICING = ROOT / "config" / "pricing.yaml"


def test_the_price_file_is_checked_as_a_price_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(PRICING)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"ok: {PRICING} is a price file (version ")
    assert "upstreams" not in out.err


def test_a_broken_price_file_is_told_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "pricing.yaml"
    broken.write_text('version: "x"\nas_of: 2026-01-01\nmodels:\n  gpt-5: {input: -1}\n')
    assert main(["config", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"price file {broken} is invalid: {broken}:4")
    assert "models.gpt-5.input" in err


def test_a_price_file_is_known_by_its_keys_and_a_config_is_not(tmp_path: Path) -> None:
    prices = tmp_path / "costs-2026.yaml"
    prices.write_text('version: "x"\nas_of: 2026-01-01\nmodels: {}\n')
    not_prices = tmp_path / "bad.yaml"
    not_prices.write_text("models:\n  gpt-5: {}\nbudgets: {}\n")  # a config with a typo
    unparsable = tmp_path / "gw.yaml"
    unparsable.write_text("models: [\n")
    assert is_pricing_file(str(prices))
    assert not is_pricing_file(str(not_prices))
    assert not is_pricing_file(str(unparsable))  # the config loader reports its line
    assert not is_pricing_file(str(CONFIG))


def test_an_unpriced_model_names_the_upstream_key_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    config = yaml.safe_load(CONFIG.read_text())
    config["models"]["house-model"] = {"upstream_model": "ft:gpt-5-nano:acme:v2"}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "warning: no price for upstream model 'ft:gpt-5-nano:acme:v2' (model 'house-model'): "
        "calls are refused; add `ft:gpt-5-nano:acme:v2:` under `models:` in "
        f"{tmp_path / 'pricing.yaml'} (prices are looked up by the upstream model name)"
    ) in out
    assert out.count("warning: no price") == 1  # the models the price file has are not named


def alerting_config(
    tmp_path: Path, alerts: dict[str, object], tenant_alerts: object = None
) -> Path:
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    config = yaml.safe_load(CONFIG.read_text())
    config["alerts"] = alerts
    if tenant_alerts is not None:
        config["tenants"]["search"]["alerts"] = tenant_alerts
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


SIGNED = {"url": "https://hooks.example.com/in", "secret_env": "TEST_ALERTS_SECRET"}


def test_an_unknown_webhook_name_is_reported_where_it_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ALERTS_SECRET", "s3cret")
    path = alerting_config(tmp_path, {"webhooks": {"finance": SIGNED}}, {"webhooks": ["fnance"]})
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "tenants.search.alerts.webhooks: unknown webhook 'fnance' (finance)" in err


def test_a_missing_secret_or_url_variable_is_reported_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_ALERTS_SECRET", raising=False)
    monkeypatch.delenv("TEST_ALERTS_SLACK_URL", raising=False)
    slack = {"url_env": "TEST_ALERTS_SLACK_URL", "format": "slack"}
    path = alerting_config(tmp_path, {"webhooks": {"finance": SIGNED, "ops": slack}})
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "alerts.webhooks.finance.secret_env: environment variable TEST_ALERTS_SECRET " in err
    assert "alerts.webhooks.ops.url_env: environment variable TEST_ALERTS_SLACK_URL " in err
    monkeypatch.setenv("TEST_ALERTS_SECRET", "s3cret")
    monkeypatch.setenv("TEST_ALERTS_SLACK_URL", "https://hooks.slack.com/services/T/B/x")
    assert main(["config", "check", str(path)]) == 0


def test_a_json_webhook_without_a_secret_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = alerting_config(tmp_path, {"webhooks": {"finance": {"url": "https://x.example/in"}}})
    assert main(["config", "check", str(path)]) == 1
    assert "a json webhook is signed: set secret_env" in capsys.readouterr().err


def sunset_config(tmp_path: Path) -> Path:
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    config = yaml.safe_load(CONFIG.read_text())
    config["routes"]["extract"]["ladder"] = ["gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"]
    config["routes"]["extract"]["shadow"] = {"ladder": ["gpt-4.1-nano"], "sample": 0.1}
    config["shadow"] = {"charge_to": "caller"}
    config["tenants"]["search"]["models"].append("gpt-4.1-nano")
    config["deprecations"] = {
        "gpt-4.1-nano": {"sunset": "2026-10-23", "replacement": "gpt-4.1-mini"},
        "o4-mini": {"sunset": "2026-10-23"},  # configured, but no route or allow-list names it
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_route_rung_or_allowed_model_past_its_sunset_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sunset_config(tmp_path)
    assert main(["config", "check", str(path), "--today", "2026-10-23"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "past its sunset" in line]
    assert lines == [
        "warning: routes.extract.ladder names model 'gpt-4.1-nano', past its sunset "
        "(2026-10-23; deprecations action warn); move to 'gpt-4.1-mini'",
        "warning: routes.extract.shadow.ladder names model 'gpt-4.1-nano', past its sunset "
        "(2026-10-23; deprecations action warn); move to 'gpt-4.1-mini'",
        "warning: tenants.search.models names model 'gpt-4.1-nano', past its sunset "
        "(2026-10-23; deprecations action warn); move to 'gpt-4.1-mini'",
    ]


def test_a_model_before_its_sunset_is_not_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sunset_config(tmp_path)
    assert check_config(str(path), os.environ, dt.date(2026, 10, 22)) == 0
    assert "past its sunset" not in capsys.readouterr().out


def test_the_shipped_config_leans_on_no_model_its_own_deprecations_retire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # config/gateway.yaml lists the GPT-5 family as shut down on 2026-12-11 and routes on
    # GPT-5.4: the check stays clean past every shipped sunset (update with the entries).
    shipped = yaml.safe_load(CONFIG.read_text())
    latest = max(entry["sunset"] for entry in shipped["deprecations"].values())
    assert latest >= dt.date(2026, 12, 11)
    assert main(["config", "check", str(CONFIG), "--today", latest.isoformat()]) == 0
    assert "past its sunset" not in capsys.readouterr().out
    # The same config routing on the GPT-5 family is warned about from that day, and passes.
    shipped["routes"]["default"]["ladder"] = ["gpt-5-nano", "gpt-5"]
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(shipped))
    assert main(["config", "check", str(path), "--today", "2026-12-10"]) == 0
    assert "past its sunset" not in capsys.readouterr().out
    assert main(["config", "check", str(path), "--today", "2026-12-11"]) == 0
    assert (
        "warning: routes.default.ladder names model 'gpt-5', past its sunset "
        "(2026-12-11; deprecations action warn); move to 'gpt-6.1-sol'"
    ) in capsys.readouterr().out


def test_without_a_day_the_check_judges_on_the_gateways_today(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sunset_config(tmp_path)
    monkeypatch.setattr(deprecation, "today", lambda: dt.date(2026, 10, 22))
    assert main(["config", "check", str(path)]) == 0
    assert "past its sunset" not in capsys.readouterr().out
    monkeypatch.setattr(deprecation, "today", lambda: dt.date(2026, 10, 23))
    assert main(["config", "check", str(path)]) == 0
    assert "past its sunset" in capsys.readouterr().out
