"""``manage.py move_to_split_databases``: the move itself runs in tests/operations/split_move, in a
process with orders and inventory on SQLite files of their own (the split settings are read at
start-up); the refusals run the command as an operator would, on SQLite files of their own."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.split_sqlite import environment_without_databases, pytest_on_sqlite_files


def clean_environment(**databases: str) -> dict[str, str]:
    """This run's environment without its database settings (a split run's PostgreSQL URLs), plus ``databases``."""
    return {**environment_without_databases(), "DJANGO_SETTINGS_MODULE": "tests.settings", **databases}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.flows
def test_the_move_tests_pass_with_orders_and_inventory_on_files_of_their_own(tmp_path: Path) -> None:
    run = pytest_on_sqlite_files(tmp_path, ["orders", "inventory"], "tests/operations/split_move")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout and " failed" not in run.stdout


def test_the_move_is_refused_when_no_domain_has_a_database_of_its_own(tmp_path: Path) -> None:
    run = manage(clean_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'one.sqlite3'}"), "move_to_split_databases")
    assert run.returncode == 1
    assert "No domain has a database of its own: set DATABASE_URL_<LABEL> for the domains to move" in run.stderr


def test_the_move_is_refused_while_a_domain_s_database_is_not_migrated_saying_what_to_run(tmp_path: Path) -> None:
    single = clean_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'one.sqlite3'}")
    assert manage(single, "migrate", "-v", "0").returncode == 0
    assert "orders_order" in tables(tmp_path / "one.sqlite3")

    split = {**single, "DATABASE_URL_ORDERS": f"sqlite:///{tmp_path / 'orders.sqlite3'}"}
    run = manage(split, "move_to_split_databases")
    assert run.returncode == 1
    assert "orders: its database (orders) is not migrated" in run.stderr
    assert "run `manage.py migrate --database orders` first" in run.stderr
    assert "orders_order" not in tables(tmp_path / "orders.sqlite3")  # nothing created, nothing copied
    assert "orders_order" in tables(tmp_path / "one.sqlite3")


def test_the_move_is_refused_when_the_default_database_never_held_the_domain_s_tables(tmp_path: Path) -> None:
    # A deployment that was split from the start: its default database has no orders tables.
    split = clean_environment(
        DATABASE_URL=f"sqlite:///{tmp_path / 'one.sqlite3'}",
        DATABASE_URL_ORDERS=f"sqlite:///{tmp_path / 'orders.sqlite3'}",
    )
    for database in ("default", "orders"):
        assert manage(split, "migrate", "--database", database, "-v", "0").returncode == 0
    run = manage(split, "move_to_split_databases", "--dry-run")
    assert run.returncode == 1
    assert "orders: the default database has no table orders_" in run.stderr
