"""Runs tests/db/split with orders and inventory on SQLite files of their own: the split
configuration is read at start-up, so it takes a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_split_database_tests_pass_with_orders_and_inventory_on_files_of_their_own(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite3'}",
        "DATABASE_URL_ORDERS": f"sqlite:///{tmp_path / 'orders.sqlite3'}",
        "DATABASE_URL_INVENTORY": f"sqlite:///{tmp_path / 'inventory.sqlite3'}",
        "SQLITE_TEST_NAME": str(tmp_path / "test.sqlite3"),
        "TESTAPP_STATE_DIR": str(tmp_path / "testapp-state"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/db/split", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
