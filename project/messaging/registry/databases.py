"""Which database a domain's rows, and its messaging rows, are written to: the one seam for a
database per domain.

Every messaging row is written to the database of the app it belongs to, as ``database_for``
says: an event and its deliveries to the producer's (publish, the relay), an inbox record or a
dead letter to the consumer's (the inbox), a projection's rebuild to its app's. Whatever reads
them all (the sweep, the timeline, health, purges) goes over ``messaging_databases()``. With one
database both answer "default"; a domain given its own (``DATABASE_URL_<LABEL>``) is routed there
by the project's router (project/db/router.py, which also migrates the messaging tables on every
database), and these answers follow it.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, router

# The default alias of a process without a default database (settings: DOMAINS).
NO_DATABASE_ENGINE = "project.db.backends.none"


def database_for(app_label: str) -> str:
    """The alias the app's models are written to (Django's router); its messaging rows follow it."""
    try:
        models = list(apps.get_app_config(app_label).get_models())
    except LookupError:
        return DEFAULT_DB_ALIAS
    if not models:
        return DEFAULT_DB_ALIAS
    return router.db_for_write(models[0]) or DEFAULT_DB_ALIAS


def messaging_databases() -> list[str]:
    """Every database of this process that may hold messaging rows, the default first (when it
    is one): the databases of the apps that publish or consume (each queue is named after the app
    that consumes it) and that this process runs (settings: ``DOMAINS``)."""
    aliases = {database_for(app_label) for app_label in settings.MESSAGING_QUEUES if runs_here(app_label)}
    real = [alias for alias in aliases if has_database(alias)]
    return sorted(real, key=lambda alias: (alias != DEFAULT_DB_ALIAS, alias))


def runs_here(app_label: str) -> bool:
    """Whether this process runs the app: a domain named in DOMAINS (all by default), or any other
    app (the messaging layer's own queue, a test app) when the process has a default database."""
    if app_label in settings.DOMAIN_APPS:
        return app_label in settings.PROCESS_DOMAINS
    return has_database(DEFAULT_DB_ALIAS)


def has_database(alias: str) -> bool:
    """Whether this process has a database under ``alias`` (not the dummy default of a process
    whose domains all have their own)."""
    return alias in settings.DATABASES and settings.DATABASES[alias].get("ENGINE") != NO_DATABASE_ENGINE
