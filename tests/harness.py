"""Run a real gateway (uvicorn, real sockets) on a background thread for the tests.

The tests talk to it exactly as users do: the official ``openai`` SDK, httpx
or raw sockets, pointed at ``base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import openai
import uvicorn
import yaml
from poll import eventually_sync, latest_sync

from gateway.app import create_app
from gateway.auth import mint_token
from gateway.config import RuntimeConfig, compile_config, parse_config
from gateway.pricing import load_pricing
from gateway.serving import http_protocol
from gateway.settings import Settings
from gateway.telemetry.tracing import NO_TRACING, Tracing

if TYPE_CHECKING:
    import pytest

T = TypeVar("T")

PRICING = Path(__file__).resolve().parents[1] / "config" / "pricing.yaml"

JWT_SECRET = "test-jwt-secret-with-enough-entropy-0123456789"
UPSTREAM_KEY = "sk-upstream-TOPSECRET-9f8e7d6c5b4a39281706"
ISSUER = "https://issuer.test/"
AUDIENCE = "ai-gateway-test"


Config = dict[str, Any]
"""A gateway config as data: what ``gateway.yaml`` parses to. Tests build it with the helpers
below, so a misspelt key fails (KeyError here, or the config's own validation) instead of a
text replacement that silently stops matching."""


def config_dict(
    upstream_url: str, *, tenants: Mapping[str, object] | None = None, defaults: bool = False
) -> Config:
    """The config most tests run against; ``tenants`` adds tenants beside alpha, beta, frozen."""
    config: Config = {
        "auth": {
            "algorithms": ["HS256"],
            "hs256_secret_env": "TEST_JWT_SECRET",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "leeway_s": 5,
        },
        "server": {"max_body_bytes": 65536},
        "upstreams": {
            "openai": {
                "base_url": upstream_url,
                "api_key_env": "TEST_UPSTREAM_KEY",
                "read_timeout_s": 2,
                "connect_timeout_s": 1,
                "retries": {"max_retries": 0},
            }
        },
        "models": {
            "gpt-5-nano": {},
            "gpt-5-mini": {},
            "gpt-4.1": {},
            "small": {"upstream_model": "gpt-4.1-mini"},
            "gpt-realtime": {"context_window": 2000},  # small: a session's reservation is ~$0.07
            "text-embedding-3-small": {"context_window": 8192},
            "omni-moderation-latest": {},
            "gpt-image-1": {"max_output_tokens": 6240},
            "tts-1": {},
            "gpt-4o-mini-tts": {},
            "whisper-1": {},
            "gpt-4o-transcribe": {},
        },
        "tenants": {
            "alpha": {"models": ["*"]},
            "beta": {"models": ["gpt-5-nano"]},
            "frozen": {"enabled": False},
        },
    }
    if tenants:
        config = with_tenants(config, tenants)
    if defaults:
        config["defaults"] = {"models": ["gpt-5-nano"]}
    return config


def merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Config:
    """A deep copy of ``base`` with ``patch`` laid over it: mappings merge key by key, any other
    value replaces. New keys are allowed (the config's validation refuses unknown ones)."""
    out: Config = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_tenants(config: Mapping[str, Any], tenants: Mapping[str, object]) -> Config:
    """``config`` with more tenants; a name it already has is an error, not an overwrite."""
    taken = set(tenants) & set(config["tenants"])
    if taken:
        raise KeyError(f"tenants already in the config: {sorted(taken)}")
    return merged(config, {"tenants": tenants})


def replaced(config: Mapping[str, Any], path: str, value: object) -> Config:
    """``config`` with the existing value at dotted ``path`` replaced (KeyError if absent)."""
    out = merged(config, {})
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if last not in node:
        raise KeyError(f"{path}: not in the config")
    node[last] = value
    return out


def without(config: Mapping[str, Any], path: str) -> Config:
    """``config`` without the value at dotted ``path`` (KeyError if absent)."""
    out = merged(config, {})
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    del node[last]
    return out


def to_yaml(config: Mapping[str, Any]) -> str:
    """The config as the text of a ``gateway.yaml``."""
    return yaml.safe_dump(dict(config), sort_keys=False)


def base_config(
    upstream_url: str, *, tenants: str | Mapping[str, object] = "", defaults: bool = False
) -> str:
    """`config_dict` as YAML text. A ``tenants`` string is YAML tenant entries indented under
    ``tenants:``, parsed (not pasted), for the tests that still pass one (until the ledger
    branch lands)."""
    if isinstance(tenants, str):
        tenants = yaml.safe_load("tenants:\n" + tenants)["tenants"] if tenants.strip() else {}
    assert isinstance(tenants, Mapping)
    return to_yaml(config_dict(upstream_url, tenants=tenants, defaults=defaults))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for_tests() -> dict[str, str]:
    return {"TEST_JWT_SECRET": JWT_SECRET, "TEST_UPSTREAM_KEY": UPSTREAM_KEY}


class GatewayServer:
    """A gateway on 127.0.0.1, built with ``create_app`` and served by uvicorn in a thread."""

    def __init__(
        self,
        config: str | Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        database_url: str,
        config_dir: Path | None = None,
        tracing: Tracing | None = None,
        redis_url: str | None = None,
    ) -> None:
        """``config`` is data (`config_dict`) or a file's text. With ``config_dir`` it is a real
        file there (with the price table beside it) and hot-reloads; otherwise it is compiled
        from memory."""
        env = env if env is not None else env_for_tests()
        config_yaml = config if isinstance(config, str) else to_yaml(config)
        self.config_file: Path | None = None
        if config_dir is not None:
            self.config_file = config_dir / "gateway.yaml"
            self.config_file.write_text(config_yaml)
            shutil.copy(PRICING, config_dir / "pricing.yaml")
        self.runtime: RuntimeConfig = compile_config(
            parse_config(config_yaml, "test.yaml"), env, pricing=load_pricing(PRICING)
        )
        self.database_url = database_url
        self.metrics_port = free_port()
        self.app = create_app(
            Settings(
                database_url=database_url, redis_url=redis_url, metrics_port=self.metrics_port
            ),
            self.runtime,
            config_path=self.config_file,
            env=env,
            tracing=tracing if tracing is not None else NO_TRACING,
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=0,
                lifespan="on",
                http=http_protocol(
                    self.runtime.server.header_timeout_s, self.runtime.server.max_header_bytes
                ),
                loop="uvloop",
                log_config=None,
                access_log=False,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.base_url = ""

    def __enter__(self) -> GatewayServer:
        self._thread.start()

        def started() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError("the gateway did not start: its thread ended")
            return bool(self._server.started)

        eventually_sync(started, 10, 0.01, what="the gateway to start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def on_loop(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the gateway's own event loop and return its result."""
        loop = self._server.servers[0].get_loop()
        return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=10)

    def watch_round(self, seconds_later: float = 3600) -> int:
        """One round of the gateway's watcher of calls still running upstream (batches,
        background responses), as if ``seconds_later`` had passed; how many it billed."""
        deferred = self.app.services.deferred
        return self.on_loop(lambda: deferred.check_due(time.time() + seconds_later))

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def metrics_url(self) -> str:
        """Prometheus's scrape URL: a port of its own, not the public one."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def token(self, tenant: str = "alpha", *, admin: bool = False, ttl_s: float = 600) -> str:
        assert self.runtime.hs_secret is not None
        return mint_token(
            self.runtime.auth, self.runtime.hs_secret, tenant, admin=admin, ttl_s=ttl_s,
            subject=f"{tenant}-svc",
        )  # fmt: skip


def ledger_rows(
    database_url: str, *, at_least: int = 0, timeout_s: float = 5.0
) -> list[dict[str, object]]:
    """The ledger's rows, waiting (the writer batches) until there are ``at_least``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)

    def read() -> list[dict[str, object]]:
        with engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(text("SELECT * FROM ledger ORDER BY id"))
            ]

    try:
        return latest_sync(read, lambda rows: len(rows) >= at_least, timeout_s)
    finally:
        engine.dispose()


def ledger_row(database_url: str, timeout_s: float = 5.0, **match: object) -> dict[str, object]:
    """The one ledger row whose columns equal ``match``, waiting for the batched writer."""
    rows = latest_sync(
        lambda: [
            r for r in ledger_rows(database_url) if all(r.get(k) == v for k, v in match.items())
        ],
        bool,
        timeout_s,
    )
    assert len(rows) == 1, f"expected one ledger row matching {match}, got {rows}"
    return rows[0]


def metric_value(gw: GatewayServer, name: str, **labels: str) -> float:
    """A sample's value from the gateway's /metrics (0 when the series does not exist yet)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(gw.metrics_url).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def access_lines(caplog: pytest.LogCaptureFixture, request_id: str) -> list[dict[str, Any]]:
    """The access-log lines of one request, once the log's batch is written."""

    def lines() -> list[dict[str, Any]]:
        return [
            line
            for r in caplog.records
            if r.name == "gateway.access"
            for line in map(json.loads, r.getMessage().splitlines())
            if line["request_id"] == request_id
        ]

    eventually_sync(lambda: bool(lines()), what=f"an access-log line for {request_id}")
    return lines()


@contextlib.contextmanager
def tenants_gateway(
    upstream: str, tmp: pytest.TempPathFactory, tenants: Mapping[str, Any], name: str
) -> Iterator[GatewayServer]:
    """A gateway on ``upstream`` (the fake's base URL) serving ``tenants``, on a SQLite ledger
    of its own: what a test module's ``gw`` fixture usually is."""
    db = tmp.mktemp(name) / "gateway.db"
    config = config_dict(upstream, tenants=dict(tenants))
    with GatewayServer(config, database_url=f"sqlite:///{db}") as server:
        yield server


def sdk(gw: GatewayServer, tenant: str = "alpha") -> openai.OpenAI:
    """The official client, as one of ``tenant``'s services, without retries."""
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0, timeout=10)
