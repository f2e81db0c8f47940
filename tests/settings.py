"""Settings for the test suite: the project's settings plus a test-only consumer app (testapp)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
# project/settings.py refuses to run with DEBUG off on implicit defaults; the tests use them (bin/test
# names the broker). Without DATABASE_URL the suite runs on one SQLite file: the split development
# default (a file per domain) is what tests/db/split runs, in a process of its own. Split (every
# domain's DATABASE_URL_<LABEL> set) the suite passes too: tests read a domain's messaging rows on
# its database (tests/messaging_rows.py).
os.environ.setdefault(
    "DATABASE_URL", f"sqlite:///{os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}/var/db.sqlite3"
)
if not os.environ.get("CELERY_BROKER_URL"):
    # With another broker named (RabbitMQ) and no REDIS_URL the cache is the database's table.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from project.settings import *  # noqa: E402,F403
from project.settings import (  # noqa: E402
    DATABASES,
    INSTALLED_APPS,
    MESSAGING_BROKER,
    MESSAGING_QUEUES,
    RABBITMQ_CONSUMER_TIMEOUT,
    RABBITMQ_QUEUE_TYPE,
    REST_FRAMEWORK,
    VAR_DIR,
    env,
    task_queues,
)

DEBUG = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# tests/security tests the rate limits at their real rates; elsewhere a test may log in or place
# orders faster than any person would.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": dict.fromkeys(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"),
}

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
MESSAGING_QUEUES = [*MESSAGING_QUEUES, "testapp"]
CELERY_TASK_QUEUES = task_queues(
    MESSAGING_QUEUES,
    broker=MESSAGING_BROKER,
    queue_type=RABBITMQ_QUEUE_TYPE,
    consumer_timeout=RABBITMQ_CONSUMER_TIMEOUT,
)
CELERY_TASK_ROUTES = {f"{name}.*": {"queue": name, "routing_key": name} for name in MESSAGING_QUEUES}

# Fast retries so that retry and dead-letter paths finish within a test.
MESSAGING_MAX_ATTEMPTS = env.int("MESSAGING_MAX_ATTEMPTS", default=3)
MESSAGING_RETRY_BACKOFF = env.float("MESSAGING_RETRY_BACKOFF", default=0.2)
MESSAGING_RETRY_BACKOFF_MAX = env.float("MESSAGING_RETRY_BACKOFF_MAX", default=1.0)

# Where the test-only handlers keep state that must survive a rolled-back transaction.
TESTAPP_STATE_DIR = env.str("TESTAPP_STATE_DIR", default=str(VAR_DIR / "testapp-state"))

_sqlite_test_name = env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test.sqlite3"))
for _alias, _database in DATABASES.items():
    if _database["ENGINE"].endswith("sqlite3"):
        # A file, not the in-memory default, so worker subprocesses can share the test database;
        # a domain with a database of its own (DATABASE_URL_<LABEL>) gets a file of its own beside it.
        _name = (
            _sqlite_test_name if _alias == "default" else _sqlite_test_name.replace(".sqlite3", f"-{_alias}.sqlite3")
        )
        _database["TEST"] = {"NAME": _name}
    elif _alias != "default":
        # pytest-django names each test database test_<NAME> (suffixed per xdist worker).
        _database.setdefault("TEST", {})

# --- A second database: a consumer on a database of its own (acknowledgements) ---------------
# Nothing is routed to it unless a test installs tests.testapp.routers.TestappElsewhere
# (tests/messaging/test_acknowledgements.py) or a worker is started with TESTAPP_ELSEWHERE=1;
# only the tests that name it create it. TEST_ELSEWHERE_DATABASE_NAME: the database a worker
# subprocess uses for it (the one pytest-django created). (The split-db settings may bring
# per-domain aliases of their own; this one stays test-only.)
DATABASES["elsewhere"] = {**DATABASES["default"], "TEST": {}}
if env.str("TEST_ELSEWHERE_DATABASE_NAME", default=""):
    DATABASES["elsewhere"]["NAME"] = env.str("TEST_ELSEWHERE_DATABASE_NAME")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["elsewhere"]["TEST"] = {
        "NAME": DATABASES["default"]["TEST"]["NAME"].replace(".sqlite3", "-elsewhere.sqlite3")
    }
else:
    DATABASES["elsewhere"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_elsewhere"}
DATABASE_ROUTERS = ["tests.testapp.routers.TestappTablesElsewhere", *globals().get("DATABASE_ROUTERS", [])]
if env.bool("TESTAPP_ELSEWHERE", default=False):
    DATABASE_ROUTERS = ["tests.testapp.routers.TestappElsewhere", *globals().get("DATABASE_ROUTERS", [])]
