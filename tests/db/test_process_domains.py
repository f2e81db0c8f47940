"""DOMAINS: a process runs some domains only, and is given only their databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import ConnectionDoesNotExist
from django.test import override_settings

from project.messaging.registry.databases import database_for, messaging_databases, runs_here

REPO = Path(__file__).resolve().parents[2]


def settings_in_a_process(tmp_path: Path, env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` after django.setup() with the project's settings and only ``env`` set (no
    DATABASE_URL of the test run leaks in)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOMAINS", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=REPO,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": "test-only",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_of_one_domain_has_its_database_only_and_no_default(tmp_path: Path) -> None:
    run = settings_in_a_process(
        tmp_path,
        {"DOMAINS": "inventory", "DATABASE_URL_INVENTORY": f"sqlite:///{tmp_path / 'inventory.sqlite3'}"},
        "from django.conf import settings\n"
        "from django.db import connection\n"
        "from project.messaging.registry.databases import database_for, messaging_databases\n"
        "print(sorted(settings.DATABASES), messaging_databases(), database_for('orders'), "
        "sorted(settings.CELERY_BEAT_SCHEDULE))\n"
        "connection.cursor()\n",
    )
    first_line = run.stdout.splitlines()[0]
    assert first_line == "['default', 'inventory'] ['inventory'] orders []"
    # The default alias is no database: using it fails, saying why.
    assert run.returncode != 0
    assert "This process has no default database: it runs DOMAINS=inventory" in run.stderr


def test_production_refuses_a_domain_process_whose_database_is_not_named(tmp_path: Path) -> None:
    run = settings_in_a_process(tmp_path, {"DOMAINS": "orders"}, "")
    assert run.returncode != 0
    assert "DATABASE_URL_ORDERS not set" in run.stderr


def test_domains_naming_no_domain_is_refused(tmp_path: Path) -> None:
    run = settings_in_a_process(tmp_path, {"DOMAINS": "orders,stock", "DJANGO_DEBUG": "1"}, "")
    assert run.returncode != 0
    assert "DOMAINS names stock: the domains are orders, inventory, users" in run.stderr


def test_the_development_default_is_a_sqlite_file_per_domain(tmp_path: Path) -> None:
    run = settings_in_a_process(
        tmp_path,
        {"DJANGO_DEBUG": "1"},
        "from django.conf import settings\n"
        "print({alias: str(d['NAME']).rsplit('/', 1)[-1] for alias, d in settings.DATABASES.items()})\n"
        "print(sorted(settings.CELERY_BEAT_SCHEDULE))\n",
    )
    assert run.returncode == 0, run.stderr
    databases, schedule = run.stdout.splitlines()
    assert databases == (
        "{'default': 'db.sqlite3', 'orders': 'orders.sqlite3', 'inventory': 'inventory.sqlite3', "
        "'notifications': 'notifications.sqlite3', 'articles': 'articles.sqlite3', 'publishing': 'publishing.sqlite3'}"
    )
    assert schedule == "['expire-overdue-order-sagas', 'purge-messaging-tables', 'sweep-outbox']"


def test_one_database_url_is_the_single_database_deployment(tmp_path: Path) -> None:
    run = settings_in_a_process(
        tmp_path,
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'one.sqlite3'}"},
        "from django.conf import settings\nprint(sorted(settings.DATABASES))\n",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['default']"


def test_beat_of_the_orders_domain_schedules_its_deadline_check_only(tmp_path: Path) -> None:
    run = settings_in_a_process(
        tmp_path,
        {"DOMAINS": "orders", "DATABASE_URL_ORDERS": f"sqlite:///{tmp_path / 'orders.sqlite3'}"},
        "from django.conf import settings\nprint(sorted(settings.CELERY_BEAT_SCHEDULE))\n",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['expire-overdue-order-sagas']"


@pytest.mark.django_db
def test_a_domain_this_process_does_not_run_is_an_alias_it_does_not_have() -> None:
    with override_settings(PROCESS_DOMAINS=["inventory", "users"]):
        assert database_for("orders") == "orders"
        assert not runs_here("orders")
        assert runs_here("inventory")
        assert "orders" not in messaging_databases()
        if "orders" not in connections:  # (a split run has the alias itself: the router is what says no)
            with pytest.raises(ConnectionDoesNotExist):
                connections[database_for("orders")].cursor()
