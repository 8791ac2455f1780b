"""Hot reload: a new config is validated and compiled fully, then swapped in at once.

An invalid file, or one that changes what only a restart can change (auth,
server, upstreams, the accounting time zone), is rejected with a report and
the last good config keeps serving. Requests already in flight finish on the
config they started with: handlers read ``services.config`` once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.diff import changes as config_changes
from gateway.config.runtime import RuntimeConfig, compile_config, load_files
from gateway.yamlfile import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    trigger: str
    at: float
    problems: tuple[str, ...] = ()
    changed: tuple[str, ...] = field(default=())


def restart_only_changes(old: RuntimeConfig, new: RuntimeConfig) -> list[str]:
    a, b = old.source, new.source
    changes = [
        name for name in ("auth", "server", "upstreams") if getattr(a, name) != getattr(b, name)
    ]
    if a.accounting.timezone != b.accounting.timezone:
        changes.append("accounting.timezone")
    return changes


class ConfigReloader:
    def __init__(
        self,
        path: Path,
        env: Mapping[str, str],
        current: Callable[[], RuntimeConfig],
        apply: Callable[[RuntimeConfig], None],
        *,
        upstream_override: tuple[str, str] | None = None,
        on_result: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self.path = path
        self._env = dict(env)
        self._current = current
        self._apply = apply
        self._override = upstream_override
        self._on_result = on_result
        self._lock = asyncio.Lock()
        self.last: ReloadResult | None = None
        self.counts = {"ok": 0, "rejected": 0}

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            result = await asyncio.to_thread(self._try, trigger)
            self.last = result
            self.counts["ok" if result.ok else "rejected"] += 1
            if self._on_result is not None:
                self._on_result(result)
            return result

    def _try(self, trigger: str) -> ReloadResult:
        now = time.time()
        try:
            cfg, pricing = load_files(self.path)
            new = compile_config(cfg, self._env, pricing=pricing, upstream_override=self._override)
        except ConfigError as exc:
            problems = tuple(str(p) for p in exc.problems)
            log.error(
                "config reload (%s) rejected:\n  %s", trigger, "\n  ".join(problems),
                extra={"fields": {"trigger": trigger, "problems": problems}},
            )  # fmt: skip
            return ReloadResult(False, trigger, now, problems)
        restart = restart_only_changes(self._current(), new)
        if restart:
            problem = f"changing {', '.join(restart)} needs a restart; nothing was applied"
            log.error(
                "config reload (%s) rejected: %s", trigger, problem,
                extra={"fields": {"trigger": trigger, "problems": [problem]}},
            )  # fmt: skip
            return ReloadResult(False, trigger, now, (problem,))
        changed = config_changes(self._current(), new)
        self._apply(new)
        log.info(
            "config reloaded (%s): %s", trigger, "; ".join(changed) or "no change",
            extra={"fields": {"trigger": trigger, "changes": changed}},
        )  # fmt: skip
        return ReloadResult(True, trigger, now, changed=tuple(changed))

    def watched_files(self) -> frozenset[Path]:
        """The files this config was loaded from: the config file and its price table."""
        pricing = self.path.parent / self._current().accounting.pricing_file
        return frozenset({self.path.absolute(), pricing.absolute()})

    async def watch(self) -> None:
        """Reload when a loaded file changes, or when a ConfigMap swaps its files in.

        Their folders are watched, since an editor or Kubernetes replaces a file rather
        than writing it, but only events naming a loaded file or the ConfigMap's ``..data``
        symlink count: a log file or database beside the config changes nothing. When a
        reload moves the price table elsewhere, the watch follows it.
        """
        import watchfiles

        while True:
            files = self.watched_files()
            async for changes in watchfiles.awatch(
                *{f.parent for f in files},
                watch_filter=ReloadFilter(files),
                debounce=300,
                recursive=False,
            ):
                names = sorted({Path(path).name for _, path in changes})
                await self.reload(f"file change: {', '.join(names)}")
                if self.watched_files() != files:
                    break


class ReloadFilter:
    """watchfiles filter: a change to one of ``files``, or a ConfigMap's ``..data`` swap.

    Kubernetes mounts a ConfigMap as ``name -> ..data/name`` and updates it by pointing
    ``..data`` at a new folder in one rename, which is the only event such a mount sees.
    """

    def __init__(self, files: frozenset[Path]) -> None:
        self._files = {str(f) for f in files}
        self._folders = {str(f.parent) for f in files}

    def __call__(self, _change: object, path: str) -> bool:
        if path in self._files:
            return True
        folder, _, name = path.rpartition("/")
        return name == "..data" and folder in self._folders
