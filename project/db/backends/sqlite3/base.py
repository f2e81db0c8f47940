"""SQLite as Django ships it, except how a transaction waits for the database's write lock.

With ``transaction_mode`` IMMEDIATE every transaction takes the write lock at BEGIN. While
another connection holds it, SQLite's default busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms
between tries, so when several workers write at once a waiter usually wakes long after the lock
was freed, and a handled message spends more time waiting than working (docs/performance.md,
"Why the code is as it is: measured"). Here BEGIN is retried every 0.1 ms, growing to 2 ms, until the
busy timeout (``OPTIONS["timeout"]``) runs out, and then fails as SQLite would ("database is
locked"). Every other statement keeps SQLite's own busy timeout.

It also counts connections, statements, their durations and errors for Prometheus with
django-prometheus' wrapper (``django_db_*`` series), as ``django_prometheus.db.backends.sqlite3``
would: that backend derives from Django's, so it cannot be used together with this one.
"""

from __future__ import annotations

import sqlite3
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError
from django.utils.functional import cached_property
from django_prometheus.db.common import DatabaseWrapperMixin, ExportingCursorWrapper

FIRST_POLL_SECONDS = 0.0001
LONGEST_POLL_SECONDS = 0.002


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = base.SQLiteCursorWrapper

    @cached_property
    def _counting_cursor_class(self) -> type[base.SQLiteCursorWrapper]:
        return ExportingCursorWrapper(self.CURSOR_CLASS, self.alias, self.vendor)

    def create_cursor(self, name: str | None = None) -> base.SQLiteCursorWrapper:
        # The mixin's create_cursor builds a new cursor class for every cursor; one per connection
        # wrapper is enough (its alias and vendor never change).
        return self.connection.cursor(factory=self._counting_cursor_class)

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode not in ("IMMEDIATE", "EXCLUSIVE"):
            super()._start_transaction_under_autocommit()
            return
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        deadline = time.monotonic() + timeout
        delay = FIRST_POLL_SECONDS
        raw = self.connection
        begin = f"BEGIN {self.transaction_mode}"
        raw.execute("PRAGMA busy_timeout = 0")  # fail at once when busy: we poll instead
        try:
            try:
                self.cursor().execute(begin)  # through Django: logged, wrapped, counted in tests
                return
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
            # Busy: poll on the raw connection, which costs next to nothing per try; a Django
            # cursor and its error wrapping would be paid again on every poll of a long wait.
            while True:
                if time.monotonic() + delay > deadline:
                    raise OperationalError("database is locked")
                time.sleep(delay)
                delay = min(delay * 1.5, LONGEST_POLL_SECONDS)
                try:
                    raw.execute(begin)
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise OperationalError(*exc.args) from exc
        finally:
            raw.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")


def _is_busy(exc: OperationalError | sqlite3.OperationalError) -> bool:
    cause = exc if isinstance(exc, sqlite3.OperationalError) else exc.__cause__
    if isinstance(cause, sqlite3.OperationalError) and getattr(cause, "sqlite_errorcode", None) is not None:
        return cause.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(exc)
