"""A PostgreSQL role per domain for the test databases, as in production
(deploy/postgres/domains.sql): each domain's test database may be reached by its own role only
(and the superuser that created it, the test process). Worker subprocesses get the role's URL, so
a worker that touched another domain's database would fail on CONNECT, not pass silently."""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

# Roles are global to the server; the names say they are the test suite's.
ROLE_PREFIX = "shop_test_"


def role_of(alias: str) -> str:
    """The role of a database alias: the domain's label, or users for the default database."""
    return ROLE_PREFIX + ("users" if alias == DEFAULT_DB_ALIAS else alias)


def uses_domain_roles() -> bool:
    """Roles per domain on PostgreSQL whenever some domain has a database of its own."""
    split = any(alias in settings.DOMAIN_APPS for alias in settings.DATABASES)
    return split and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def role_aliases() -> list[str]:
    """The default database and every domain's own (not the test-only "elsewhere")."""
    return [alias for alias in settings.DATABASES if alias == DEFAULT_DB_ALIAS or alias in settings.DOMAIN_APPS]


def give_each_database_its_role() -> None:
    """Create the roles (once per server) and give each test database to its own: the role may
    connect and use every table and sequence; PUBLIC may no longer connect at all."""
    for alias in role_aliases():
        role = sql.Identifier(role_of(alias))
        database = sql.Identifier(connections[alias].settings_dict["NAME"])
        with connections[alias].cursor() as cursor:
            # (another run may create it at the same moment: duplicate_object is no error)
            cursor.execute(
                sql.SQL("DO $$ BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(
                    role
                )
            )
            for statement in (
                "REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC",
                "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
                "GRANT USAGE ON SCHEMA public TO {role}",
            ):
                cursor.execute(sql.SQL(statement).format(database=database, role=role))
        grant_tables_to_its_role(alias)


def grant_tables_to_its_role(alias: str) -> None:
    """Let the database's role use every table and sequence in it, those a test created since
    the roles were given included (a test's own tables are the superuser's until then)."""
    if not uses_domain_roles():
        return
    role = sql.Identifier(role_of(alias))
    with connections[alias].cursor() as cursor:
        for statement in (
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            cursor.execute(sql.SQL(statement).format(role=role))
