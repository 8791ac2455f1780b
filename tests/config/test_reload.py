"""Hot reload: a valid config swaps in atomically, an invalid one changes nothing."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from harness import (
    PRICING,
    UPSTREAM_KEY,
    GatewayServer,
    config_dict,
    metric_value,
    replaced,
    to_yaml,
    with_tenants,
    without,
)
from poll import eventually, latest_sync

from fake_openai import FakeOpenAIServer
from gateway.config import load_runtime
from gateway.config.reload import ConfigReloader

GAMMA = {"gamma": {"models": ["gpt-5-nano"]}}


@pytest.fixture
def slow_fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=UPSTREAM_KEY, event_delay_s=0.02) as f:
        yield f


def admin(gw: GatewayServer, method: str, path: str) -> httpx.Response:
    return httpx.request(
        method,
        f"{gw.root}{path}",
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    )


def test_reload_under_load_loses_no_request_and_a_bad_file_changes_nothing(
    slow_fake: FakeOpenAIServer, tmp_path: Path, db_url: str
) -> None:
    config = config_dict(slow_fake.base_url)
    with GatewayServer(config, database_url=db_url, config_dir=tmp_path) as gw:
        config_file = gw.config_file
        assert config_file is not None
        gamma = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("gamma"), max_retries=0)
        with pytest.raises(openai.PermissionDeniedError):
            gamma.models.list()

        async def load() -> list[str]:
            client = openai.AsyncOpenAI(
                base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0
            )

            opened: list[int] = []

            async def one(i: int) -> str:
                stream = await client.responses.create(
                    model="gpt-5-nano", input=f"stream number {i} " * 5, stream=True
                )
                kinds: list[str] = []
                async for event in stream:
                    if not kinds:
                        opened.append(i)
                    kinds.append(event.type)
                return kinds[-1]

            async def reload_midway() -> None:
                await eventually(lambda: len(opened) == 30, what="every stream open")
                config_file.write_text(to_yaml(with_tenants(config, GAMMA)))
                result = await asyncio.to_thread(admin, gw, "POST", "/admin/config/reload")
                assert result.status_code == 200, result.text

            results = await asyncio.gather(*(one(i) for i in range(30)), reload_midway())
            return [r for r in results if r is not None]

        ends = asyncio.run(load())
        assert ends == ["response.completed"] * 30
        assert [m.id for m in gamma.models.list()] == ["gpt-5-nano"]

        config_file.write_text(to_yaml({**config, "tenants_typo": {}}))
        rejected = admin(gw, "POST", "/admin/config/reload")
        assert rejected.status_code == 422
        assert "tenants_typo: unknown key" in rejected.json()["problems"][0]
        assert gamma.responses.create(model="gpt-5-nano", input="still here").status == "completed"
        status = admin(gw, "GET", "/admin/config").json()
        assert status["last_reload"]["status"] == "rejected"
        assert status["reloads"]["ok"] >= 1  # the file watcher reloads too
        assert status["reloads"]["rejected"] >= 1
        assert "gamma" in status["tenants"]
        assert status["policies"]["gamma"]["models"] == ["gpt-5-nano"]  # the one in force
        assert status["policies"]["frozen"]["disabled"] is True
        assert metric_value(gw, "gateway_config_reloads_total", result="rejected") >= 1
        assert metric_value(gw, "gateway_config_reloads_total", result="ok") >= 1


def test_a_file_change_is_picked_up_and_a_removed_tenant_is_refused(
    fake_server: FakeOpenAIServer, tmp_path: Path, db_url: str
) -> None:
    config = config_dict(fake_server.base_url)
    with GatewayServer(config, database_url=db_url, config_dir=tmp_path) as gw:
        assert gw.config_file is not None
        beta = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("beta"), max_retries=0)
        assert beta.models.list().data
        gw.config_file.write_text(to_yaml(without(config, "tenants.beta")))

        def refused() -> str | None:
            try:
                beta.models.list()
            except openai.PermissionDeniedError as err:
                return err.code
            return None

        code = latest_sync(refused, lambda code: code is not None, 10, 0.1)
        assert code == "unknown_tenant", "the edited file was not reloaded"


def test_changes_that_need_a_restart_are_rejected(
    fake_server: FakeOpenAIServer, tmp_path: Path, db_url: str
) -> None:
    config = config_dict(fake_server.base_url)
    with GatewayServer(config, database_url=db_url, config_dir=tmp_path) as gw:
        assert gw.config_file is not None
        gw.config_file.write_text(to_yaml(replaced(config, "auth.leeway_s", 50)))
        result = admin(gw, "POST", "/admin/config/reload")
        assert result.status_code == 422
        assert "changing auth needs a restart" in result.json()["problems"][0]


def test_reload_needs_an_admin(fake_server: FakeOpenAIServer, tmp_path: Path, db_url: str) -> None:
    with GatewayServer(
        config_dict(fake_server.base_url), database_url=db_url, config_dir=tmp_path
    ) as gw:
        resp = httpx.post(
            f"{gw.root}/admin/config/reload",
            headers={"Authorization": f"Bearer {gw.token('alpha')}"},
        )
        assert resp.status_code == 403


def test_a_reload_keeps_rate_limit_buckets_whose_limits_did_not_change(
    fake_server: FakeOpenAIServer, tmp_path: Path, db_url: str
) -> None:
    # One request a minute: a bucket refilled by the reload would admit the second at once.
    config = config_dict(fake_server.base_url, tenants={"paced": {"limits": {"rpm": 1}}})
    with GatewayServer(config, database_url=db_url, config_dir=tmp_path) as gw:
        assert gw.config_file is not None
        paced = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("paced"), max_retries=0)
        paced.responses.create(model="gpt-5-nano", input="the minute's one request")
        with pytest.raises(openai.RateLimitError):
            paced.responses.create(model="gpt-5-nano", input="too soon")

        gw.config_file.write_text(to_yaml(with_tenants(config, GAMMA)))  # paced unchanged
        reloaded = admin(gw, "POST", "/admin/config/reload")
        assert reloaded.status_code == 200
        # The file watcher may have applied the edit first: then this reload found no change.
        assert reloaded.json()["changes"] in (["tenants +gamma"], [])
        assert "gamma" in admin(gw, "GET", "/admin/config").json()["tenants"]
        with pytest.raises(openai.RateLimitError) as err:
            paced.responses.create(model="gpt-5-nano", input="still too soon")
        assert err.value.code == "rate_limit_exceeded"

        raised = with_tenants(config, GAMMA)
        raised["tenants"]["paced"]["limits"]["rpm"] = 100
        gw.config_file.write_text(to_yaml(raised))  # a changed limit applies at once
        assert admin(gw, "POST", "/admin/config/reload").status_code == 200
        assert paced.responses.create(model="gpt-5-nano", input="now").status == "completed"


def test_a_reload_reports_and_logs_what_it_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.yaml"
    base = {"models": {"gpt-5-nano": {}}, "tenants": {"search": {"models": ["gpt-5-nano"]}}}
    path.write_text(to_yaml(base))
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    held = [load_runtime(path, {})]
    reloader = ConfigReloader(path, {}, lambda: held[0], lambda new: held.__setitem__(0, new))
    path.write_text(to_yaml(with_tenants(base, {"ads": {"models": ["gpt-5-nano"]}})))
    caplog.set_level(logging.INFO, logger="gateway.config.reload")
    result = asyncio.run(reloader.reload("admin"))
    assert result.changed == ("tenants +ads",)
    [record] = caplog.records
    assert record.getMessage() == "config reloaded (admin): tenants +ads"
    assert record.__dict__["fields"] == {"trigger": "admin", "changes": ["tenants +ads"]}
    assert asyncio.run(reloader.reload("SIGHUP")).changed == ()  # nothing new on disk
