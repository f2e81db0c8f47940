"""Which database connection a domain's rows (and its messaging rows) go through."""

from __future__ import annotations

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, router


def db_for_app(app_label: str) -> str:
    """The alias the app's models are written to; messaging rows of that app follow it."""
    try:
        models = list(apps.get_app_config(app_label).get_models())
    except LookupError:
        return DEFAULT_DB_ALIAS
    if not models:
        return DEFAULT_DB_ALIAS
    return router.db_for_write(models[0]) or DEFAULT_DB_ALIAS
