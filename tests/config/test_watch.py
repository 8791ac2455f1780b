"""The hot-reload watch: the files the config was loaded from, and a ConfigMap's ``..data`` swap.

A log file or a SQLite database beside the config must not reload it (it used to,
hundreds of times a minute). These run the real watcher (watchfiles) on real folders.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import PRICING, to_yaml
from poll import eventually, within
from watchfiles import Change

from gateway.config import RuntimeConfig, load_runtime
from gateway.config.reload import ConfigReloader, ReloadFilter, ReloadResult


def config_text(tenant: str) -> str:
    return to_yaml({"models": {"gpt-5-nano": {}}, "tenants": {tenant: {"models": ["gpt-5-nano"]}}})


class Watched:
    """A ConfigReloader on ``path`` with its watch running; every reload is kept in ``results``."""

    def __init__(self, path: Path) -> None:
        self.runtime: RuntimeConfig = load_runtime(path, {})
        self.results: list[ReloadResult] = []
        self._applied = 0
        self.reloader = ConfigReloader(
            path, {}, lambda: self.runtime, self._apply, on_result=self.results.append
        )

    def _apply(self, new: RuntimeConfig) -> None:
        self.runtime = new
        self._applied += 1

    def has_tenant(self, tenant: str) -> bool:
        """Whether the config in force has ``tenant``, once its reload's result is recorded: a
        reload applies in a thread before its result comes back, so a test that stopped the
        watch as soon as it saw the tenant would lose the result."""
        return tenant in self.runtime.tenants and len(self.results) >= self._applied

    def changed_names(self) -> set[str]:
        """Every file name that triggered a reload so far."""
        names: set[str] = set()
        for result in self.results:
            names |= set(result.trigger.removeprefix("file change: ").split(", "))
        return names


async def seen_after_writes(write: Callable[[int], object], seen: Callable[[int], bool]) -> int:
    """Write version 1, 2, ... until the watch has picked one up (it starts asynchronously)."""
    for version in range(1, 40):
        write(version)
        if await within(functools.partial(seen, version), 0.5, 0.02):
            return version
    raise AssertionError("no write was ever picked up by the watch")


def test_the_filter_passes_the_loaded_files_and_a_configmap_swap_only(tmp_path: Path) -> None:
    keep = ReloadFilter(frozenset({tmp_path / "gateway.yaml", tmp_path / "pricing.yaml"}))
    for name in ("gateway.yaml", "pricing.yaml", "..data"):
        assert keep(Change.modified, str(tmp_path / name)), name
    for name in ("gateway.db", "gateway.db-wal", "gateway.db.lock", "access.log", "..data_tmp"):
        assert not keep(Change.modified, str(tmp_path / name)), name
    assert not keep(Change.added, str(tmp_path / "elsewhere" / "..data"))
    assert not keep(Change.modified, str(tmp_path / "sub" / "gateway.yaml"))


def test_a_busy_neighbour_reloads_nothing_and_a_loaded_file_reloads(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text("t0"))
    shutil.copy(PRICING, tmp_path / "pricing.yaml")
    watched = Watched(path)

    async def scenario() -> None:
        watch = asyncio.create_task(watched.reloader.watch())
        try:
            await seen_after_writes(
                lambda v: path.write_text(config_text(f"t{v}")),
                lambda v: watched.has_tenant(f"t{v}"),
            )
            # The watch is live. A log and a SQLite database beside the config churn...
            for i in range(30):
                with (tmp_path / "access.log").open("a") as log:
                    log.write(f"line {i}\n")
                (tmp_path / "gateway.db").write_bytes(os.urandom(64))
            # ...then the price table, a loaded file, is rewritten: its reload comes after
            # every event of the churn, so any reload the churn caused has happened by then.
            (tmp_path / "pricing.yaml").write_text(PRICING.read_text() + "# touched\n")
            await eventually(
                lambda: "pricing.yaml" in watched.changed_names(),
                10,
                0.02,
                what="the price table's reload",
            )
        finally:
            watch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watch

    asyncio.run(scenario())
    assert watched.changed_names() <= {"gateway.yaml", "pricing.yaml"}
    assert all(result.ok for result in watched.results)


def test_a_configmap_symlink_swap_reloads(tmp_path: Path) -> None:
    # Kubernetes' layout: gateway.yaml -> ..data/gateway.yaml, ..data -> ..<timestamp>/,
    # updated by writing a new folder and renaming a new ..data symlink over the old one.
    def publish(version: int) -> None:
        folder = tmp_path / f"..2026_12_04_{version:02d}"
        folder.mkdir()
        (folder / "gateway.yaml").write_text(config_text(f"t{version}"))
        shutil.copy(PRICING, folder / "pricing.yaml")
        os.symlink(folder.name, tmp_path / "..data_tmp")
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")

    publish(0)
    for name in ("gateway.yaml", "pricing.yaml"):
        os.symlink(f"..data/{name}", tmp_path / name)
    watched = Watched(tmp_path / "gateway.yaml")
    assert watched.has_tenant("t0")

    async def scenario() -> None:
        watch = asyncio.create_task(watched.reloader.watch())
        try:
            await seen_after_writes(publish, lambda v: watched.has_tenant(f"t{v}"))
        finally:
            watch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watch

    asyncio.run(scenario())
    assert "..data" in watched.changed_names()
    assert not watched.has_tenant("t0")
