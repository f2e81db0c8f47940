"""Settings, read from the environment (12-factor). Safe production defaults: DEBUG is off
unless ``DJANGO_DEBUG`` says otherwise, and a production run must supply its own secret key.

Environment:
  DJANGO_DEBUG, DJANGO_SECRET_KEY, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS,
  DATABASE_URL (default: SQLite file in var/), DATABASE_URL_<LABEL> (a domain's own database),
  REDIS_URL (broker and cache),
  CELERY_BROKER_URL (redis://... or RabbitMQ, amqp://...), RABBITMQ_* (see the Celery section),
  EMAIL_URL or EMAIL_BACKEND/EMAIL_HOST..., DEFAULT_FROM_EMAIL,
  CELERY_VISIBILITY_TIMEOUT, MESSAGING_* (see the messaging section).
  CACHE_REDIS_URL (default: REDIS_URL; no Redis at all: the database), THROTTLE_*_RATE, NUM_PROXIES.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from project.messaging.broker import broker_kind, task_queues
from project.observability.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (production) or set DJANGO_DEBUG=1 (development)."
        )
    SECRET_KEY = "dev-insecure-key-only-used-when-DJANGO_DEBUG-is-on"  # noqa: S105  (development only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The domain apps. Each one owns its tables and consumes its own Celery queue (named after it).
DOMAIN_APPS = ["orders", "inventory", "users", "notifications", "articles", "publishing"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "health_check",
    "project.messaging",
    "project.observability",  # /metrics, /health/, logging: its deployment checks
    *DOMAIN_APPS,
    "project.operations",  # cross-domain reconciliation (check_consistency): reads, never writes
]

MIDDLEWARE = [
    # HTTP metrics (django-prometheus): requests, latency, responses and exceptions by view. The
    # "before" one first, to time the whole stack; the "after" one just before EdgeMiddleware, so
    # that it counts the answers EdgeMiddleware gives (400 for a body too large, 503 in an outage)
    # by status and view.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (admin, API docs) without a web server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "project.messaging.middleware.CorrelationIdMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, so that its answers carry the correlation id: bodies over the limit, outages, API 404s.
    "project.api.middleware.EdgeMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# A database per domain (docs/operations.md#a-database-per-domain): DATABASE_URL_<LABEL>
# (DATABASE_URL_ORDERS, DATABASE_URL_INVENTORY...) gives that domain app its own, under the alias
# of its label; project/db/router.py sends its models and its messaging rows there. Django's own
# apps (auth, sessions, admin, tokens, the cache table) live in the default database (DATABASE_URL).
# `users` is the exception: it owns Django's auth user (a profile's email change and the auth
# user's commit together), so it lives in the default database and DATABASE_URL_USERS is refused.
#  - Nothing set (development): split, on SQLite files: var/db.sqlite3 (Django's apps and users)
#    and var/<label>.sqlite3 for every other domain, so the boundary holds where a new user starts.
#  - DATABASE_URL set: a domain without DATABASE_URL_<LABEL> shares it (one database for
#    everything is the case where no DATABASE_URL_<LABEL> is set).
# DOMAINS=inventory[,orders...]: the domains this process runs (default: all). It is given the
# databases of those domains only: another domain's alias does not exist in it (a query there
# fails loudly), and without DATABASE_URL and without users it has no default database at all
# (Django's dummy backend), e.g. `DOMAINS=inventory DATABASE_URL_INVENTORY=... celery worker -Q inventory`.
DOMAINS_IN_DEFAULT_DATABASE = ["users"]
PROCESS_DOMAINS = env.list("DOMAINS", default=DOMAIN_APPS)
if _unknown_domains := sorted(set(PROCESS_DOMAINS) - set(DOMAIN_APPS)):
    raise ImproperlyConfigured(
        f"DOMAINS names {', '.join(_unknown_domains)}: the domains are {', '.join(DOMAIN_APPS)}."
    )


def _database_from_url(url: str) -> dict:
    """A DATABASES entry from a database URL, with this project's connection options."""
    database = env.db_url_config(url)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # Concurrent workers on one SQLite file: take the write lock at BEGIN (IMMEDIATE) so a
        # read-then-write transaction cannot deadlock on lock upgrade, wait for the lock instead of
        # failing at once, and use WAL so readers never block the writer.
        # SQLITE_BUSY_TIMEOUT (seconds): how long a connection waits for another's write lock before
        # failing with "database is locked" (an OperationalError: retried as a transient fault).
        sqlite_busy_timeout = env.float("SQLITE_BUSY_TIMEOUT", default=30.0)
        # Django's SQLite backend, waiting for the write lock by short polls (see its docstring).
        database["ENGINE"] = "project.db.backends.sqlite3"
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": sqlite_busy_timeout,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA busy_timeout={round(sqlite_busy_timeout * 1000)};"
            ),
        }
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    elif database["ENGINE"] == "django.db.backends.postgresql":
        # Django's PostgreSQL backend with django-prometheus' counters of connections, statements,
        # their durations and errors (django_db_*); the SQLite backend above counts them itself.
        database["ENGINE"] = "django_prometheus.db.backends.postgresql"
    # Persistent connections, in web and worker processes alike (see project/celery.py for the
    # workers): opening one per request or per handled message costs more than the work itself on
    # the hot path (a new backend process on PostgreSQL, the PRAGMAs on SQLite).
    database.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    database["CONN_HEALTH_CHECKS"] = True
    return database


_DATABASE_URL = env.str("DATABASE_URL", default="")


def _domain_database_url(label: str) -> str:
    """The URL of a domain's own database: DATABASE_URL_<LABEL>, else (development, nothing set) its
    SQLite file in var/; "" when it shares the default database."""
    if label in DOMAINS_IN_DEFAULT_DATABASE:
        if env.str(f"DATABASE_URL_{label.upper()}", default=""):
            raise ImproperlyConfigured(
                f"DATABASE_URL_{label.upper()} is set, but {label} owns Django's auth user and lives in the default "
                "database: set DATABASE_URL for it instead (docs/operations.md#a-database-per-domain)."
            )
        return ""
    return env.str(f"DATABASE_URL_{label.upper()}", default="") or (
        "" if _DATABASE_URL else f"sqlite:///{VAR_DIR / f'{label}.sqlite3'}"
    )


_DOMAIN_DATABASE_URLS = {label: url for label in PROCESS_DOMAINS if (url := _domain_database_url(label))}
# A process whose domains all have databases of their own, given no DATABASE_URL, has no default
# database: project/db/backends/none, which fails any use saying why (Django's own apps are not its business).
_NEEDS_DEFAULT_DATABASE = bool(_DATABASE_URL) or not (
    env.str("DOMAINS", default="") and set(PROCESS_DOMAINS) <= set(_DOMAIN_DATABASE_URLS)
)
DATABASES = {
    "default": _database_from_url(_DATABASE_URL or f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
    if _NEEDS_DEFAULT_DATABASE
    else {"ENGINE": "project.db.backends.none"}
}
for _label, _url in _DOMAIN_DATABASE_URLS.items():
    DATABASES[_label] = _database_from_url(_url)
# The databases this process falls back to because none was named: production refuses them.
_IMPLICIT_DATABASES = [
    *(["DATABASE_URL"] if _NEEDS_DEFAULT_DATABASE and not _DATABASE_URL else []),
    *(
        f"DATABASE_URL_{label.upper()}"
        for label in _DOMAIN_DATABASE_URLS
        if not env.str(f"DATABASE_URL_{label.upper()}", default="")
    ),
]
# Each domain app's models (and its messaging rows) on its own alias; Django's apps on default.
DATABASE_ROUTERS = ["project.db.router.DomainRouter"]
# Workers check a connection's health (CONN_HEALTH_CHECKS) only before the first task after this
# many idle seconds, not before every task (project/celery.py says why).
DB_HEALTH_CHECK_AFTER_IDLE = env.float("DB_HEALTH_CHECK_AFTER_IDLE", default=5.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise serves from it (collectstatic fills it)

# --- Security (production defaults; relaxed only when DEBUG is on) --------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- Email ----------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND",
        default="django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend",
    )
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@example.com")

# --- REST framework and OpenAPI ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Errors are RFC 9457 problem documents (application/problem+json), documented on every
    # operation of the schema: project/api/.
    "EXCEPTION_HANDLER": "project.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "project.api.schema.ProblemAutoSchema",
    # DRF's parsers, with a JSON parser that refuses hostile nesting and counts (project/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "project.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Rate limits (project/api/throttling.py), counted in the shared cache (CACHES: Redis).
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN_RATE", default="10/min"),  # per client address
        "registration": env.str("THROTTLE_REGISTRATION_RATE", default="10/hour"),  # per client address
        "order_placement": env.str("THROTTLE_ORDER_PLACEMENT_RATE", default="30/min"),  # per customer
    },
    # The client address is REMOTE_ADDR unless told how many proxies in front append to
    # X-Forwarded-For: trusting that header by default would let anyone pick a fresh address.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=20)
API_JSON_MAX_ITEMS = env.int("API_JSON_MAX_ITEMS", default=10_000)
SPECTACULAR_SETTINGS = {
    "TITLE": "Domain events shop API",
    "DESCRIPTION": "Orders, stock, users, notifications and articles kept consistent by domain events.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from drf-spectacular-sidecar: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl: Swagger UI would otherwise send the schema's URL to swagger.io's validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Celery (read by project/celery.py through the CELERY_ namespace) ----------------------
# The broker: Redis (REDIS_URL, the development default) or RabbitMQ
# (CELERY_BROKER_URL=amqp://user:password@host:5672/vhost). docs/running.md#choosing-a-broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "redis://127.0.0.1:6379/0"
# "redis" or "rabbitmq", from the URL's scheme: what the relay, the health checks and the gauges ask of it.
MESSAGING_BROKER = broker_kind(CELERY_BROKER_URL)
# Production never falls back to the development defaults (an SQLite file in var/, a Redis on
# localhost): it would start and look healthy on the wrong database or broker.
_unset = [
    *_IMPLICIT_DATABASES[:1],  # the first is enough to say what is missing
    *[
        names
        for names in ("REDIS_URL or CELERY_BROKER_URL",)
        if not any(env.str(name, default="") for name in names.split(" or "))
    ],
]
if _unset and not DEBUG:
    raise ImproperlyConfigured(
        f"{', '.join(_unset)} not set: with DJANGO_DEBUG off (production) the database and the Celery broker "
        "must be named explicitly, e.g. DATABASE_URL=postgres://... REDIS_URL=redis://host:6379/0. "
        "For development set DJANGO_DEBUG=1 (bin/run does)."
    )
# --- Cache: shared by every process (the API's rate-limit counters live here) ---------------
# Redis when one is named (CACHE_REDIS_URL, else REDIS_URL, else a Redis broker); without any
# Redis (RabbitMQ as the broker and no REDIS_URL) the database's cache table, which
# `manage.py createcachetable` creates (bin/run and the compose file's migrate run it).
CACHE_REDIS_URL = (
    env.str("CACHE_REDIS_URL", default="") or REDIS_URL or (CELERY_BROKER_URL if MESSAGING_BROKER == "redis" else "")
)
if CACHE_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="shop-cache"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "shop_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="shop-cache"),
        }
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Acknowledge after the task ran, and give the message back if the worker process dies, so a
# crash inside a handler redelivers the message instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Celery's Django fixup closes every database connection around every task unless this is set;
# with it, connections are kept and project/celery.py closes only broken or old ones (CONN_MAX_AGE),
# as Django does around requests. A worker still reconnects after this many tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# One message reserved per worker process: a slow message never holds others hostage in a
# prefetch buffer, and with acks_late nothing sits unacknowledged longer than needed.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # retry forever: a broker outage must not end a worker
CELERY_BROKER_POOL_LIMIT = 10
# Heartbeats on the workers' consuming connection only (Celery sends none on publishing
# connections): on RabbitMQ they detect a dead TCP connection within 2 x 30 s; Redis needs none
# (health_check_interval below).
CELERY_BROKER_HEARTBEAT = 30 if MESSAGING_BROKER == "rabbitmq" else 0
# Redis has no real acks: an unacknowledged message is handed out again after the visibility
# timeout. It must exceed the longest task (time limit) plus the longest retry countdown (see
# MESSAGING_RETRY_BACKOFF_MAX), or a slow task would be run twice; this is also how a message
# whose worker was SIGKILLed comes back. Keep retry countdowns short (no long ETAs on Redis).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 25,
    # How often workers look for unacknowledged messages whose visibility timeout passed (a
    # cheap sorted-set range query, so every interval rather than kombu's default 10x throttle).
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 2)),
    "unacked_restore_throttle": 1,
    # The restore runs under one Redis lock shared by every worker; a worker SIGKILLed while it
    # holds the lock (a few milliseconds every interval) would stop all restores for kombu's
    # default 300 s, and with them the return of every message a killed worker had in hand.
    # Restoring takes milliseconds, and two restores at once are safe (each message is moved in
    # a WATCHed transaction), so the lock expires quickly.
    "unacked_mutex_expire": max(2, min(30, CELERY_VISIBILITY_TIMEOUT // 2)),
}
# RabbitMQ (docs/messaging.md#brokers): queues are declared durable, as quorum queues unless
# RABBITMQ_QUEUE_TYPE=classic; every publish waits for the broker's confirm (the relay marks a
# delivery sent only then) and is mandatory (an unroutable one comes back, and stays pending).
# A message a worker holds unacknowledged longer than RABBITMQ_CONSUMER_TIMEOUT seconds makes
# RabbitMQ close the worker's channel and redeliver it: it must exceed the longest task
# (CELERY_TASK_TIME_LIMIT) plus, on classic queues, the longest retry countdown a worker holds
# (MESSAGING_RETRY_BACKOFF_MAX; on quorum queues a countdown waits in the broker). RabbitMQ 3.12+
# reads it from each queue's x-consumer-timeout argument; older servers apply their own
# consumer_timeout (30 min by default). It is part of the queue's definition: every process must
# declare the same value (a queue declared with another is refused, PRECONDITION_FAILED).
RABBITMQ_QUEUE_TYPE = env.str("RABBITMQ_QUEUE_TYPE", default="quorum")
if RABBITMQ_QUEUE_TYPE not in ("quorum", "classic"):
    raise ImproperlyConfigured(f"RABBITMQ_QUEUE_TYPE must be quorum or classic, not {RABBITMQ_QUEUE_TYPE!r}.")
RABBITMQ_CONSUMER_TIMEOUT = env.int("RABBITMQ_CONSUMER_TIMEOUT", default=3600)
# How long a publish waits for the broker's confirm before it counts as not sent.
RABBITMQ_CONFIRM_TIMEOUT = env.float("RABBITMQ_CONFIRM_TIMEOUT", default=10.0)
if MESSAGING_BROKER == "rabbitmq":
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True, "connect_timeout": 5}
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=True)
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=200_000)

# One queue per domain app plus `messaging` for the relay's own periodic work. Tasks are routed
# by their explicit names: "<queue>.<task>".
MESSAGING_QUEUES = [*DOMAIN_APPS, "messaging"]
CELERY_TASK_DEFAULT_QUEUE = "messaging"
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_QUEUES = task_queues(
    MESSAGING_QUEUES,
    broker=MESSAGING_BROKER,
    queue_type=RABBITMQ_QUEUE_TYPE,
    consumer_timeout=RABBITMQ_CONSUMER_TIMEOUT,
)
CELERY_TASK_ROUTES = {f"{name}.*": {"queue": name, "routing_key": name} for name in MESSAGING_QUEUES}
# Beat schedules the periodic work of the domains it runs (DOMAINS). The sweep and the purge run
# on the messaging worker, over every database, in a process that runs every domain; a domain
# deployed alone has them done by its own relay (`relay_outbox --loop` sweeps and purges its database).
CELERY_BEAT_SCHEDULE = {
    **(
        {
            "sweep-outbox": {"task": "messaging.sweep_outbox", "schedule": 15.0},
            "purge-messaging-tables": {"task": "messaging.purge_expired", "schedule": 3600.0},
        }
        if set(PROCESS_DOMAINS) == set(DOMAIN_APPS)
        else {}
    ),
    **(
        {"expire-overdue-order-sagas": {"task": "orders.expire_overdue_sagas", "schedule": 5.0}}
        if "orders" in PROCESS_DOMAINS
        else {}
    ),
}

# --- Messaging layer (project/messaging) ---------------------------------------------------
# Send outbox rows right after the publishing transaction commits (the sweep is the safety net).
MESSAGING_SEND_ON_COMMIT = env.bool("MESSAGING_SEND_ON_COMMIT", default=True)
# After the broker refused a send, a process leaves sending to the relay loop for this long
# instead of making every commit wait for the broker (see relay.send_committed).
MESSAGING_SEND_PAUSE_AFTER_FAILURE = env.float("MESSAGING_SEND_PAUSE_AFTER_FAILURE", default=10.0)
# Retries of transient faults: exponential backoff with full jitter, capped.
MESSAGING_MAX_ATTEMPTS = env.int("MESSAGING_MAX_ATTEMPTS", default=6)
MESSAGING_RETRY_BACKOFF = env.float("MESSAGING_RETRY_BACKOFF", default=2.0)
MESSAGING_RETRY_BACKOFF_MAX = env.float("MESSAGING_RETRY_BACKOFF_MAX", default=120.0)
# A delivery sent but not processed after this long is sent again (the broker may have lost it).
MESSAGING_REDELIVER_AFTER = env.float("MESSAGING_REDELIVER_AFTER", default=600.0)
MESSAGING_RELAY_BATCH_SIZE = env.int("MESSAGING_RELAY_BATCH_SIZE", default=500)
# Retention of processed bookkeeping rows, in days.
MESSAGING_RETENTION_DAYS = env.int("MESSAGING_RETENTION_DAYS", default=14)

# Long management commands (replays, rebuilds, place_demo_orders) write a progress line at most
# this often (seconds) when stdout is not a terminal; a terminal gets a progress bar instead.
PROGRESS_LINE_INTERVAL = env.float("PROGRESS_LINE_INTERVAL", default=5.0)

# --- Domains ------------------------------------------------------------------------------
# An order whose stock is not all reserved by then is compensated and fails (stored per saga).
ORDERS_RESERVATION_TIMEOUT_SECONDS = env.float("ORDERS_RESERVATION_TIMEOUT_SECONDS", default=120.0)

# --- Logging, metrics, health ---------------------------------------------------------------
# structlog renders every line with the request's or the delivery's context (correlation_id,
# event_id, handler, queue...). LOG_FORMAT=json for one JSON object per line.
LOGGING = logging_config(level=env.str("LOG_LEVEL", default="INFO"), fmt=env.str("LOG_FORMAT", default="console"))
# Tracing is configured by OpenTelemetry's own OTEL_* variables (off unless OTEL_TRACES_EXPORTER
# names an exporter; project/observability/tracing.py, docs/operations.md). This only makes the
# timelines' trace ids links: e.g. Jaeger's "http://127.0.0.1:16686/trace/{trace_id}".
TRACING_TRACE_URL = env.str("TRACING_TRACE_URL", default="")
# /metrics asks for "Authorization: Bearer <token>" when this is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /health/ turns red when an event waits longer than this in the outbox (warning at half).
MESSAGING_HEALTH_MAX_OUTBOX_LAG = env.float("MESSAGING_HEALTH_MAX_OUTBOX_LAG", default=60.0)
# How long /health/ keeps the verdict it gives anonymous callers (the checks ask the broker and
# every worker: a probe anyone can call must not be a way to load them).
HEALTH_ANONYMOUS_CACHE_SECONDS = env.int("HEALTH_ANONYMOUS_CACHE_SECONDS", default=5)
