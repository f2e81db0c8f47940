"""Settings of the worker and relay processes of the reliability suite: tests.settings plus two
things the suite must observe or provoke from outside those processes.

- Emails go to files (RELIABILITY_EMAIL_DIR), one per message, so the test process can count
  what left each worker, even a worker that was SIGKILLed afterwards (locmem dies with it).
- On SQLite, RELIABILITY_SQLITE_BUSY_TIMEOUT (seconds) replaces the 30 s wait for the write lock:
  with the lock held longer than that by another process ("the database is unavailable"), a
  handler gets "database is locked" (OperationalError) and retries with backoff, as it does when
  PostgreSQL refuses connections. Production keeps its 30 s.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, env

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = env.str("RELIABILITY_EMAIL_DIR", default="/tmp/reliability-emails")  # noqa: S108

_busy = env.float("RELIABILITY_SQLITE_BUSY_TIMEOUT", default=0.0)
for _database in DATABASES.values():  # every SQLite file: the default, and each domain's own when split
    if _database["ENGINE"].endswith("sqlite3") and _busy > 0:
        _database["OPTIONS"] = {
            **_database["OPTIONS"],
            "timeout": _busy,
            "init_command": (
                f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={int(_busy * 1000)};"
            ),
        }
