"""App logs: JSON lines for a collector, text on a terminal, and the start-up summary line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from harness import config_dict, env_for_tests, to_yaml

from gateway.config import compile_config, parse_config
from gateway.settings import Settings
from gateway.telemetry.app_log import configure_logging, resolve_format
from gateway.telemetry.startup import masked, startup_fields, startup_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging sets process-wide state: put it back for the other tests."""
    root, access = logging.getLogger(), logging.getLogger("gateway.access")
    saved = (list(root.handlers), root.level, list(access.handlers), access.propagate)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    access.handlers[:], access.propagate = saved[2], saved[3]


def test_the_format_follows_the_stream_unless_forced() -> None:
    assert resolve_format("auto", io.StringIO()) == "json"  # a pipe, a file, a collector
    assert resolve_format("auto", Terminal()) == "text"
    assert resolve_format("json", Terminal()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
    with pytest.raises(ValueError, match="log format 'yaml'"):
        resolve_format("yaml", io.StringIO())


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_carry_fields_and_tracebacks() -> None:
    out = io.StringIO()
    assert configure_logging("info", "auto", out) == "json"
    log = logging.getLogger("gateway.test")
    log.info("reloaded: %s", "tenants +ads", extra={"fields": {"trigger": "SIGHUP"}})
    log.debug("not at info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["logger"] == "gateway.test"
    assert first["message"] == "reloaded: tenants +ads"
    assert first["trigger"] == "SIGHUP"
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "error"
    assert "RuntimeError: boom" in second["exception"]


@pytest.mark.usefixtures("restored_logging")
def test_text_on_a_terminal() -> None:
    out = Terminal()
    assert configure_logging("warning", "auto", out) == "text"
    logging.getLogger("gateway.test").warning("hello %s", "there")
    logging.getLogger("gateway.test").info("below the level")
    [line] = out.getvalue().splitlines()
    assert line.endswith(" WARNING gateway.test: hello there")
    assert not line.startswith("{")


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "auto"
    assert Settings.from_env({"GATEWAY_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ValueError, match="GATEWAY_LOG_FORMAT='xml'"):
        Settings.from_env({"GATEWAY_LOG_FORMAT": "xml"})


def test_the_startup_summary_names_what_runs_and_masks_passwords() -> None:
    runtime = compile_config(
        parse_config(to_yaml(config_dict("http://upstream/v1")), "t.yaml"), env_for_tests()
    )
    settings = Settings(
        config_path="/etc/gateway/gateway.yaml",
        database_url="postgresql+psycopg://gw:s3cret@db:5432/gateway",
        redis_url="redis://:hunter2@redis:6379/0",
    )
    fields = startup_fields(settings, runtime, 9464)
    assert fields == {
        "config": "/etc/gateway/gateway.yaml",
        "upstreams": {"openai": "http://upstream/v1"},
        "tenants": 3,
        "defaults": False,
        "database": "postgresql",
        "database_url": "postgresql+psycopg://gw:***@db:5432/gateway",
        "quota": "redis",
        "quota_url": "redis://:***@redis:6379/0",
        "metrics_port": 9464,
    }
    line = startup_line(fields)
    assert "s3cret" not in line
    assert "hunter2" not in line
    assert "upstreams=openai=http://upstream/v1 tenants=3" in line
    alone = startup_fields(Settings(), runtime, 0)
    assert (alone["database"], alone["quota"], alone["metrics_port"]) == ("sqlite", "memory", None)
    assert "quota_url" not in startup_line(alone)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///gateway.db", "sqlite:///gateway.db"),
        ("redis-cluster://u:p@a:7000,b:7001", "redis-cluster://u:***@a:7000,b:7001"),
        ("postgresql://gw@db/gateway", "postgresql://gw@db/gateway"),
    ],
)
def test_masked(url: str, shown: str) -> None:
    assert masked(url) == shown
