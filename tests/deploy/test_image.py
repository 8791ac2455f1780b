"""The image is built from the Dockerfile and run: config check, serve, refusal, non-root.

No registry is reachable, so ``deploy/image/build-from-debian`` makes the base from Debian
packages (debootstrap) and builds the Dockerfile on it with buildah (vfs storage, chroot
isolation: no daemon, no user namespaces). The container runs with ``buildah run``, which
shares the machine's network, so the gateway listens on free ports of the machine. Needs
root, ``debootstrap`` and ``buildah`` (Debian packages; ``.ci/run`` installs them): skipped
locally without them, a failure in CI. The base is kept in ``.tools/image`` between runs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pg import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".tools" / "image"
TAG = "localhost/ai-gateway:test"
BUILD_TIMEOUT_S = 900  # a cold debootstrap and the locked dependencies from PyPI
READY_TIMEOUT_S = 60

pytestmark = pytest.mark.slow


def _require_tools() -> None:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    reason = ""
    if missing:
        reason = f"{' and '.join(missing)} not installed (Debian packages; .ci/run installs them)"
    elif os.geteuid() != 0:
        reason = "building with chroot isolation needs root"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason + ": required in CI")
        pytest.skip(reason)


def buildah(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    storage = ["--root", str(WORK / "storage"), "--runroot", str(WORK / "run")]
    return subprocess.run(
        ["buildah", *storage, "--storage-driver", "vfs", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def image() -> str:
    _require_tools()
    done = subprocess.run(
        [str(ROOT / "deploy" / "image" / "build-from-debian"), str(WORK), TAG],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    assert done.returncode == 0, f"the image did not build:\n{done.stdout}\n{done.stderr}"
    return TAG


@pytest.fixture
def container(image: str) -> Iterator[str]:
    made = buildah("from", "--pull=never", image)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip()
    yield name
    buildah("rm", name)


def run(
    container: str, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
    return buildah("run", "--isolation", "chroot", *flags, container, "--", *command)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def inside(parent: int) -> list[tuple[str, tuple[str, str]]]:
    """(command line, (uid, gid)) of every process under ``parent`` that runs in a chroot."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # the process ended meanwhile
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        proc = Path("/proc") / str(pid)
        try:
            if os.readlink(proc / "root") == "/":
                continue
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
        except OSError:
            continue
        found.append((args, (status["Uid"].split()[0], status["Gid"].split()[0])))
    return found


# --------------------------------------------------------------------------- the image


def test_the_image_runs_gateway_serve_as_10001_10001(image: str) -> None:
    done = buildah("inspect", "--type", "image", image)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)["OCIv1"]["config"]
    assert config["User"] == "10001:10001", "the ids Kubernetes sets (runAsUser/runAsGroup)"
    assert config["Entrypoint"] == ["gateway"]
    assert config["Cmd"] == ["serve"]


def test_the_images_user_has_uid_and_gid_10001(container: str) -> None:
    # buildah run uses the image's USER, as a container runtime would.
    done = run(container, "id")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["uid=10001(gateway)", "gid=10001(gateway)"]


def test_config_check_passes_on_the_shipped_config(container: str) -> None:
    done = run(container, "gateway", "config", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: /app/config/gateway.yaml")


def test_the_migration_jobs_command_migrates_an_empty_postgresql(
    image: str, container: str, postgres: PostgresServer
) -> None:
    # What the Job's pod runs: the image's entry point followed by the Job's args.
    job = yaml.safe_load((ROOT / "deploy/k8s/components/migration/job.yaml").read_text())
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    inspected = buildah("inspect", "--type", "image", image)
    entrypoint = json.loads(inspected.stdout)["OCIv1"]["config"]["Entrypoint"]
    url = postgres.new_database()
    env = {"GATEWAY_DATABASE_URL": url}
    done = run(container, *entrypoint, *job_container["args"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("database schema: empty -> ")
    status = run(container, *entrypoint, "db", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "up to date" in status.stdout


def test_serve_without_the_upstream_key_exits_at_once_with_one_line(container: str) -> None:
    done = run(container, "gateway", "serve")
    assert done.returncode != 0
    assert "OPENAI_API_KEY" in done.stderr


def test_serve_turns_ready_refuses_a_call_without_a_key_and_runs_as_10001(
    container: str,
) -> None:
    port, metrics = free_port(), free_port()
    env = {
        "OPENAI_API_KEY": "sk-test-not-used",
        "GATEWAY_JWT_SECRET": base64.b64encode(os.urandom(48)).decode(),
        "GATEWAY_PORT": str(port),
        "GATEWAY_METRICS_PORT": str(metrics),
    }
    flags = [f"--env={key}={value}" for key, value in env.items()]
    storage = ["--root", str(WORK / "storage"), "--runroot", str(WORK / "run")]
    command = ["buildah", *storage, "--storage-driver", "vfs", "run", "--isolation", "chroot"]
    server = subprocess.Popen(
        [*command, *flags, container, "--", "gateway", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _ = get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.2)  # polling a process that starts, not letting time pass
        assert status == 200, f"/readyz never answered 200 (exit {server.poll()})"

        body = json.dumps({"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]})
        status, text = get(f"http://127.0.0.1:{port}/v1/chat/completions", body.encode())
        assert status == 401
        assert json.loads(text)["error"]["code"] == "missing_api_key"

        processes = inside(server.pid)
        assert any("gateway serve" in args for args, _ in processes), processes
        assert all(ids == ("10001", "10001") for _, ids in processes), processes
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
