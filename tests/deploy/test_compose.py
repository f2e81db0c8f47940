"""docker-compose.yml against real processes (no Docker engine here): a worker started with its
service's command answers that service's healthcheck command, and Flower asks for a password and is
published on the host's loopback only."""

from __future__ import annotations

import base64
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
WORKERS = sorted(name for name, service in SERVICES.items() if " worker " in f" {service.get('command', '')} ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this module only (the role of compose's `redis` service)."""
    data = tmp_path_factory.mktemp("compose-redis")
    script = [sys.executable, str(REPO / "bin" / "embedded_redis.py")]
    url = subprocess.run([*script, "start", "--dir", str(data)], capture_output=True, text=True, check=True).stdout
    yield url.strip()
    subprocess.run([*script, "stop", "--pidfile", str(data / "redis.pid")], check=False)


def service_env(service: str, redis_url: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The service's environment from the compose file, with this machine's database and broker."""
    env = {name: str(value) for name, value in SERVICES[service].get("environment", {}).items()}
    # Each database URL the service holds (and only those) becomes a file here.
    databases = [name for name in env if name.startswith("DATABASE_URL")] or ["DATABASE_URL"]
    env.update({name: f"sqlite:///{tmp_path / name.lower()}.sqlite3" for name in databases})
    env.update(
        DJANGO_SECRET_KEY="compose-test-" + "x" * 50,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        ALLOWED_HOSTS="127.0.0.1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(tmp_path),
        **overrides,
    )
    (tmp_path / "prometheus").mkdir(exist_ok=True)
    if "WORKER_METRICS_PORT" in env:
        env["WORKER_METRICS_PORT"] = str(free_port())  # 9808 inside a container; any free port here
    return env


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    argv = shlex.split(command)
    assert argv[0] == "celery", command
    return subprocess.Popen(
        [sys.executable, "-m", "celery", *argv[1:]],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def healthcheck(service: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    kind, command = SERVICES[service]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # Compose turns $$ into $ before the container's shell runs the command.
    return subprocess.run(
        ["sh", "-c", command.replace("$$", "$")], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_every_worker_service_shares_the_healthcheck_and_the_default_worker_name() -> None:
    assert len(WORKERS) == 6, WORKERS
    checks = {name: SERVICES[name]["healthcheck"]["test"] for name in WORKERS}
    assert len({tuple(check) for check in checks.values()}) == 1, checks
    for name in WORKERS:
        argv = shlex.split(SERVICES[name]["command"])
        # The healthcheck pings celery@<host name>: a -n/--hostname would name the worker otherwise.
        assert not {"-n", "--hostname"} & set(argv) and not any(a.startswith("--hostname=") for a in argv), name


def test_each_domain_runs_its_worker_and_relay_with_its_own_database_only() -> None:
    for label in ("orders", "inventory", "users", "notifications", "articles", "publishing"):
        own = "DATABASE_URL" if label == "users" else f"DATABASE_URL_{label.upper()}"
        for service in (f"worker-{label}", f"relay-{label}"):
            env = SERVICES[service]["environment"]
            assert env["DOMAINS"] == label, service
            assert [name for name in env if name.startswith("DATABASE_URL")] == [own], service
            # Its own role, on its own database (deploy/postgres/domains.sql grants nothing else).
            assert env[own].startswith(f"postgres://shop_{label}:") and env[own].endswith(f"/shop_{label}"), service
        assert f"-Q {label} " in SERVICES[f"worker-{label}"]["command"]
    assert SERVICES["beat"]["environment"]["DOMAINS"] == "orders"
    sql = (REPO / "deploy" / "postgres" / "domains.sql").read_text()
    assert "REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC" in sql


@pytest.mark.timeout(240)
def test_the_worker_healthcheck_passes_against_a_worker_started_with_its_service_command(
    redis_url: str, tmp_path: Path
) -> None:
    env = service_env("worker-orders", redis_url, tmp_path)
    assert healthcheck("worker-orders", env).returncode != 0, "healthy with no worker running"
    worker = start(SERVICES["worker-orders"]["command"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while (done := healthcheck("worker-orders", env)).returncode != 0:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, done.stderr + (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(1)
    finally:
        stop(worker)


def test_flower_is_published_on_the_loopback_only() -> None:
    ports = SERVICES["flower"]["ports"]
    assert ports and all(str(port).startswith("127.0.0.1:") for port in ports), ports
    assert "FLOWER_BASIC_AUTH" in SERVICES["flower"]["environment"]
    # The variable is required: compose refuses to start without it rather than serve Flower openly.
    assert ":?" in (REPO / "docker-compose.yml").read_text().split("FLOWER_BASIC_AUTH: ")[1].splitlines()[0]


def get(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 (http://127.0.0.1)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.timeout(180)
def test_flower_started_with_its_service_command_and_environment_asks_for_the_password(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env("flower", redis_url, tmp_path, FLOWER_BASIC_AUTH="operator:s3cret-enough")
    # The container listens on all its interfaces; here, the loopback on a free port.
    command = SERVICES["flower"]["command"].replace("--address=0.0.0.0", "--address=127.0.0.1")
    command = command.replace("--port=5555", f"--port={port}")
    flower = start(command, env, tmp_path / "flower.log")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status = get(f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, OSError):
                assert flower.poll() is None, (tmp_path / "flower.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (tmp_path / "flower.log").read_text()[-3000:]
                time.sleep(0.5)
        assert status == 401
        assert get(f"http://127.0.0.1:{port}/", "operator:wrong") == 401
        assert get(f"http://127.0.0.1:{port}/", "operator:s3cret-enough") == 200
    finally:
        stop(flower)
