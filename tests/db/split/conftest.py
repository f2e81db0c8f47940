"""These tests need every domain but users on a database of its own (DATABASE_URL_ORDERS,
_INVENTORY, _NOTIFICATIONS, _ARTICLES, _PUBLISHING; users stays on the default database, as it
must): tests/db/test_split_databases.py runs this folder in a subprocess that sets them (SQLite
files), and `bin/test tests/db/split` runs it on whatever they name (PostgreSQL, say). Without
them the folder is not collected at all.

``domain_workers``: one real worker per domain queue, each run as it is deployed (DOMAINS=<label>)
and given its own database only, so a worker that strays into another domain's database, or the
default one, fails instead of passing by luck."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

from tests.brokers import BrokerQueues
from tests.conftest import WorkerProcess, test_database_url

# The domains with a database of their own here; users lives in the default database.
OWN_DATABASE_DOMAINS = ["orders", "inventory", "notifications", "articles", "publishing"]
DEFAULT_DATABASE_DOMAINS = ["users"]

SPLIT = set(OWN_DATABASE_DOMAINS) <= set(settings.DATABASES)
collect_ignore_glob = [] if SPLIT else ["test_*.py"]


def domain_worker_database_env(label: str) -> dict[str, str]:
    """The database variables of the worker of domain ``label``: its own database's URL and no
    other. worker_factory starts from the test run's environment (every test database's URL), so
    the others are set empty here, which the settings read as unset; DATABASE_URL is the users
    worker's only, whose database is the default one."""
    unset = {"DATABASE_URL": "", **{f"DATABASE_URL_{other.upper()}": "" for other in settings.DOMAIN_APPS}}
    if label in DEFAULT_DATABASE_DOMAINS:
        return {**unset, "DATABASE_URL": test_database_url(DEFAULT_DB_ALIAS)}
    return {**unset, f"DATABASE_URL_{label.upper()}": test_database_url(label)}


def domain_worker_env(label: str) -> dict[str, str]:
    """What the worker of domain ``label`` runs with: that domain only, on its database only."""
    return {"DOMAINS": label, **domain_worker_database_env(label)}


@pytest.fixture
def domain_workers(
    worker_factory: Callable[..., WorkerProcess], clean_queues: BrokerQueues
) -> dict[str, WorkerProcess]:
    """One real worker per domain queue, each consuming its own queue only: its handlers' deliveries
    and the acknowledgements of what it produced (articles and users consume nothing else)."""
    started = {
        label: worker_factory([label], env=domain_worker_env(label), wait=False) for label in settings.DOMAIN_APPS
    }
    return {label: worker.wait_ready(timeout=120) for label, worker in started.items()}
