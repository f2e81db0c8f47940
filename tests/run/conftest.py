"""A fresh copy of this checkout to run bin/run in, the way a new user does: its own var/ (SQLite,
embedded Redis), no configuration in the environment, the same virtualenv."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a new user's shell does not have: whatever configures the system or the tests.
# DATABASE_URL_<LABEL> too: a split test run's domain databases are not the embedded default's.
CONFIGURING = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CACHE_REDIS_URL",
    "PORT",
    "FLOWER_PORT",
    "DOMAINS",
)
CONFIGURING_PREFIXES = (
    "DATABASE_URL_",
    "DJANGO_",
    "SQLITE_",
    "TESTAPP_",
    "PROMETHEUS_",
    "MESSAGING_",
    "VIRTUAL_ENV",
    "PYTEST",
)


def fresh_env(**overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in CONFIGURING and not name.startswith(CONFIGURING_PREFIXES)
    }
    return {**env, **overrides}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tracked and new files of this checkout (not var/, not ignored ones), .venv linked."""
    root = tmp_path_factory.mktemp("clone") / "shop"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if name == ".venv" or not source.is_file():  # .venv: a link; deleted files are still listed
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / name)
    (root / ".venv").symlink_to((REPO / ".venv").resolve())
    yield root
    stop_everything_started_in(root)


def processes_in(root: Path) -> list[int]:
    """Processes whose working directory is inside ``root``: what a run there started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd == root or root in cwd.parents:
                found.append(int(entry.name))
    return found


def stop_everything_started_in(root: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_in(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.2)
