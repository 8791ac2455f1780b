"""Child-process bookkeeping for the benchmark (spawn, readiness, CPU/RSS, teardown), and what
every bench script shares: timing a call in-process, writing its section of RESULTS.md."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """A spawned long-running process (its own session, so its whole group can be killed)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Supervisor:
    """Owns every process the benchmark starts and tears them all down on ``close()``."""

    log_dir: Path
    services: list[Service] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            started_at = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        service = Service(name, proc, log_path, started_at)
        self.services.append(service)
        return service

    def stop(self, service: Service, timeout: float = 5.0) -> None:
        """SIGTERM the service's process group, then SIGKILL what is left."""
        if service in self.services:
            self.services.remove(service)
        pgid = service.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.proc.wait(timeout=timeout)
        # Whatever is left of the group (a stuck leader, orphaned workers) gets SIGKILL.
        if service.proc.poll() is None or _group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.proc.wait(timeout=timeout)

    def close(self) -> None:
        for service in reversed(list(self.services)):
            self.stop(service)

    def trim_logs(self, max_bytes: int = 1 << 20, keep_lines: int = 100) -> None:
        """Cut logs over ``max_bytes`` to their first and last ``keep_lines`` lines
        (a gateway that logs every request writes tens of MB per run)."""
        for path in self.log_dir.glob("*.log"):
            if path.stat().st_size <= max_bytes:
                continue
            lines = path.read_bytes().splitlines(keepends=True)
            cut = len(lines) - 2 * keep_lines
            marker = f"... [bench: {cut} lines trimmed] ...\n".encode()
            path.write_bytes(b"".join([*lines[:keep_lines], marker, *lines[-keep_lines:]]))


def wait_http_ok(service: Service, port: int, path: str, timeout: float) -> float:
    """Poll ``GET path`` until it answers 200; return seconds since the service was spawned.

    Raises ``RuntimeError`` if the process exits or the deadline passes.
    """
    deadline = time.perf_counter() + timeout
    last_error = "no answer"
    while time.perf_counter() < deadline:
        if not service.alive():
            raise RuntimeError(
                f"{service.name} exited with code {service.proc.returncode} before it was ready"
            )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.perf_counter() - service.started_at
            last_error = f"GET {path} -> {resp.status}"
        except OSError as exc:
            last_error = f"GET {path}: {exc}"
        finally:
            conn.close()
        time.sleep(0.02)
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f} s ({last_error})")


def _all_stats() -> dict[int, list[str]]:
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            stats[int(entry)] = fields
    return stats


def _group_members(pgid: int) -> list[int]:
    return [pid for pid, fields in _all_stats().items() if int(fields[2]) == pgid]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, fields in _all_stats().items():
        children.setdefault(int(fields[1]), []).append(pid)
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "(comm)": index 0 is field 3 (state) of proc(5).
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and its live descendants, plus its reaped children's time."""
    ticks = 0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields is None:
            continue
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        ticks += utime + stime
        if member == pid:
            ticks += cutime + cstime
    return ticks / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and its live descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Best of 3 runs of ``n`` calls, process CPU time per call in µs."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def write_section(results: str, heading: str, section: str) -> None:
    """Put ``section`` (starting with ``heading``) into the results file: in place of the
    section with that heading and up to the next ``## ``, or at its end."""
    path = Path(results)
    text = path.read_text() if path.exists() else ""
    head, _, rest = text.partition(heading)
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    path.write_text(head.rstrip("\n") + "\n\n" + section + tail)
    print(f"bench: wrote that section of {results}")
