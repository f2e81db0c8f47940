"""Each domain's database is reachable by its own role only: the workers' URLs carry that role,
so no domain's process could read another's rows even by mistake."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

from tests.conftest import test_database_env, test_database_url
from tests.db.roles import role_aliases, role_of

pytestmark = pytest.mark.django_db(databases="__all__")


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=5)


def test_every_domain_of_the_run_has_a_database_and_a_role_of_its_own() -> None:
    domains_with_own_database = [alias for alias in role_aliases() if alias != DEFAULT_DB_ALIAS]
    assert sorted(domains_with_own_database) == sorted(label for label in settings.DOMAIN_APPS if label != "users")
    assert len({role_of(alias) for alias in role_aliases()}) == len(role_aliases())


@pytest.mark.parametrize("alias", ["orders", "inventory", "notifications", "articles", "publishing", "default"])
def test_a_role_reaches_its_own_database_and_no_other(alias: str) -> None:
    own_url = test_database_url(alias)
    assert f"//{role_of(alias)}@" in own_url  # the URL a worker is given
    with connect(own_url) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (role_of(alias),)
        # It can use its tables (the migrations ran as the superuser that created the database).
        connection.execute("SELECT count(*) FROM messaging_outboxevent").fetchone()
    for other in role_aliases():
        if other == alias:
            continue
        other_database = test_database_url(other).rsplit("/", 1)[1]
        foreign_url = own_url.rsplit("/", 1)[0] + "/" + other_database
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect(foreign_url).close()


def test_worker_subprocesses_are_given_each_database_under_its_own_role() -> None:
    env = test_database_env()
    assert f"//{role_of(DEFAULT_DB_ALIAS)}@" in env["DATABASE_URL"]
    for alias in role_aliases():
        if alias != DEFAULT_DB_ALIAS:
            assert f"//{role_of(alias)}@" in env[f"DATABASE_URL_{alias.upper()}"]
