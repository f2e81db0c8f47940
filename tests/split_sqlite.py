"""Running tests in a process of their own with domains on SQLite files of their own: the split
configuration is read at start-up, so a test that needs it in a run that is not split (the
developer's one SQLite file, one PostgreSQL database) starts pytest again in such a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def environment_without_databases() -> dict[str, str]:
    """This run's environment without its database settings (a split run's PostgreSQL URLs)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DATABASE_URL") and name not in ("DOMAINS", "SQLITE_TEST_NAME")
    }


def pytest_on_sqlite_files(
    tmp_path: Path, domains: Iterable[str], *pytest_args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    """pytest with ``pytest_args`` in a process where each of ``domains`` has a SQLite file of its
    own (DATABASE_URL_<LABEL>) beside the default one, all under ``tmp_path``."""
    env = {
        **environment_without_databases(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite3'}",
        **{f"DATABASE_URL_{label.upper()}": f"sqlite:///{tmp_path / f'{label}.sqlite3'}" for label in domains},
        "SQLITE_TEST_NAME": str(tmp_path / "test.sqlite3"),
        "TESTAPP_STATE_DIR": str(tmp_path / "testapp-state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
