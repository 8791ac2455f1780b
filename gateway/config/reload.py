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
            log.error("config reload (%s) rejected:\n  %s", trigger, "\n  ".join(problems))
            return ReloadResult(False, trigger, now, problems)
        restart = restart_only_changes(self._current(), new)
        if restart:
            problem = f"changing {', '.join(restart)} needs a restart; nothing was applied"
            log.error("config reload (%s) rejected: %s", trigger, problem)
            return ReloadResult(False, trigger, now, (problem,))
        self._apply(new)
        log.info("config reloaded (%s): prices %s", trigger, new.pricing.version)
        return ReloadResult(True, trigger, now)

    def _watched_dirs(self) -> set[Path]:
        pricing = self.path.parent / self._current().accounting.pricing_file
        return {self.path.absolute().parent, pricing.absolute().parent}

    async def watch(self) -> None:
        """Reload whenever something changes beside the config file or its price table.

        Whole directories are watched because a Kubernetes ConfigMap update swaps a
        symlink rather than writing the file; a reload that changes nothing is harmless.
        """
        import watchfiles

        async for _ in watchfiles.awatch(*self._watched_dirs(), debounce=300):
            await self.reload("file change")
