"""The database router: each domain app on its own database, when it has one.

A domain app whose label is also a database alias (settings: ``DATABASE_URL_<LABEL>``) reads,
writes and migrates there only; every other app (Django's own: auth, sessions, admin, tokens, the
cache table) lives in the default database. A domain this process does not run (settings:
``DOMAINS``) is routed to its label too, an alias this process does not have: a query on another
domain's rows fails (ConnectionDoesNotExist) instead of landing in the wrong database. The
messaging app's tables exist in every database: each domain's outbox, deliveries, inbox and dead
letters live beside its rows, and the messaging layer names the database of each of its queries
itself (``.using(database_for(app))``), so its models get no default here beyond Django's own. No
relation crosses two databases.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

MESSAGING_APP_LABEL = "messaging"


def database_of(app_label: str) -> str:
    """The alias of an app's rows: its own database if one is configured under its label."""
    if app_label in settings.DOMAIN_APPS:
        if app_label not in settings.PROCESS_DOMAINS:
            return app_label  # not this process's domain: an alias it does not have
        if app_label in settings.DATABASES:
            return app_label
    return DEFAULT_DB_ALIAS


class DomainRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return self._database(model, **hints)

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return self._database(model, **hints)

    def allow_relation(self, first: Model, second: Model, **hints: Any) -> bool | None:
        # A row knows the database it was read from; two rows relate only inside one database.
        return first._state.db == second._state.db if first._state.db and second._state.db else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        if app_label == MESSAGING_APP_LABEL:
            return True  # every database holds a domain's messaging rows (the default at least Django's)
        return database_of(app_label) == db

    @staticmethod
    def _database(model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label == MESSAGING_APP_LABEL:
            # A related row read from one database (a delivery's event) stays in that database.
            instance = hints.get("instance")
            return instance._state.db if instance is not None else None
        return database_of(model._meta.app_label)
