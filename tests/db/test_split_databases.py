"""Runs tests/db/split with every domain but users (orders, inventory, notifications, articles,
publishing) on a SQLite file of its own: the split configuration is read at start-up, so it takes
a process of its own (with the DATABASE_URL_<LABEL> set, `bin/test tests/db/split` runs that
folder directly, e.g. on PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.split_sqlite import pytest_on_sqlite_files

REPO = Path(__file__).resolve().parents[2]
SPLIT_DOMAINS = ["orders", "inventory", "notifications", "articles", "publishing"]


def run_split(tmp_path: Path, marks: str) -> subprocess.CompletedProcess:
    # The flows: six worker processes per test, on a small machine.
    return pytest_on_sqlite_files(tmp_path, SPLIT_DOMAINS, "tests/db/split", "-m", marks, timeout=1200)


def test_the_split_database_tests_pass_with_each_domain_on_a_file_of_its_own(tmp_path: Path) -> None:
    run = run_split(tmp_path, "not flows")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout


@pytest.mark.flows
def test_the_split_database_flows_pass_through_real_domain_workers_on_files_of_their_own(tmp_path: Path) -> None:
    run = run_split(tmp_path, "flows")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout


def test_a_database_of_its_own_for_users_is_refused_it_owns_django_s_auth_user(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL_USERS": f"sqlite:///{tmp_path / 'users.sqlite3'}"}
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "DATABASE_URL_USERS is set, but users owns Django's auth user" in run.stderr
