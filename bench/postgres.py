"""A throwaway PostgreSQL for `bench/scale.py`: initdb into the bench's temp dir, on a free port.

Like `tests/pg.py` (fsync off: the bench measures CPU, not the disk), except that the
postmaster runs in the foreground under the bench's `Supervisor`, so it is stopped with
everything else, and its pid is known: `cpu_seconds(postmaster)` is the CPU of the whole
server (the postmaster, its backends, its background workers, and the ones it reaped).
initdb refuses to run as root, so as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from procs import Supervisor, free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found[-1]:
        raise SystemExit("bench: PostgreSQL not found (apt-get install postgresql)")
    return Path(str(found[-1])).parent


def start_postgres(sup: Supervisor, workdir: Path) -> tuple[str, int]:
    """Start a server; return its SQLAlchemy URL (database ``gateway``) and postmaster pid."""
    bin_dir = _bin_dir()
    root = workdir / "pg"
    data, sockets = root / "data", root / "sock"
    for path in (root, data, sockets):
        path.mkdir(parents=True)
    as_postgres = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
    if as_postgres:
        workdir.chmod(0o755)
        for path in (root, data, sockets):
            shutil.chown(path, "postgres", "postgres")
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    sup.spawn(
        "postgres",
        [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off"],
    )  # fmt: skip
    pid_file = data / "postmaster.pid"
    for _ in range(500):
        if pid_file.exists() and "ready" in pid_file.read_text():
            break
        time.sleep(0.02)
    else:
        raise SystemExit("bench: PostgreSQL did not start")
    postmaster = int(pid_file.read_text().split()[0])
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE gateway")
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/gateway", postmaster
