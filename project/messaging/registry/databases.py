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
    """Every database that may hold messaging rows, the default first: the databases of the apps
    that publish or consume (each queue is named after the app that consumes it)."""
    others = {database_for(app_label) for app_label in settings.MESSAGING_QUEUES} - {DEFAULT_DB_ALIAS}
    return [DEFAULT_DB_ALIAS, *sorted(others)]
