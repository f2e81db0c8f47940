"""The SQLite backend waits for the write lock by short polls, within the busy timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler


def wrapper(path: Path, timeout: float):
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "project.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": timeout},
            }
        }
    )
    return handler["default"]


@pytest.fixture
def database(tmp_path: Path, django_db_blocker) -> Iterator[Path]:
    """A database file of the test's own (not the test database: pytest-django's guard is lifted)."""
    path = tmp_path / "lock.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    with django_db_blocker.unblock():
        yield path


def hold_write_lock(path: Path, seconds: float, released: list[float] | None = None) -> threading.Thread:
    held = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        if released is not None:
            released.append(time.monotonic())
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    return thread


def test_a_transaction_waits_for_the_write_lock_and_starts_soon_after_it_is_freed(database: Path) -> None:
    connection = wrapper(database, timeout=5)
    released: list[float] = []
    # Held 0.34 s: SQLite's own busy handler would try again only at 0.428 s (its sleeps add up
    # 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228, 328, 428 ms), about 90 ms late.
    holder = hold_write_lock(database, 0.34, released)
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()
    started = time.monotonic()
    connection.cursor().execute("INSERT INTO t VALUES (1)")
    connection.connection.execute("COMMIT")
    holder.join()
    assert started - released[0] < 0.04  # polls every 2 ms at most once it has waited a while
    # The connection keeps SQLite's own busy timeout for every other statement.
    assert connection.connection.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert connection.cursor().execute("SELECT count(*) FROM t").fetchone() == (1,)
    connection.close()


def test_a_lock_held_longer_than_the_busy_timeout_fails_as_sqlite_would(database: Path) -> None:
    connection = wrapper(database, timeout=0.2)
    holder = hold_write_lock(database, 2.0)
    connection.ensure_connection()
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"):
        connection._start_transaction_under_autocommit()
    assert 0.15 <= time.monotonic() - started < 1.5  # gave up at the timeout, long before the release
    holder.join()
    connection.close()
