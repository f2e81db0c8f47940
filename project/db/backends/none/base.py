"""The default database of a process that has none: one that runs only domains with databases of
their own (settings: DOMAINS), e.g. `DOMAINS=inventory DATABASE_URL_INVENTORY=... celery worker`.

Django needs a "default" alias; this one fails every use with a message saying why, so a process
that strays outside its domains' databases stops at once instead of writing somewhere else.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.dummy import base as dummy


def refuse(*args: Any, **kwargs: Any) -> NoReturn:
    from django.conf import settings

    raise ImproperlyConfigured(
        f"This process has no default database: it runs DOMAINS={','.join(settings.PROCESS_DOMAINS)}, each "
        "on a database of its own (DATABASE_URL_<LABEL>), and touched the default one (Django's own apps, "
        "users, or a domain it does not run). Name the database (--database <alias>), or set DATABASE_URL "
        "if this process needs it (docs/operations.md#a-database-per-domain)."
    )


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = refuse


class DatabaseClient(dummy.DatabaseClient):
    runshell = refuse


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = refuse
    get_table_description = refuse
    get_relations = refuse
    get_indexes = refuse


class DatabaseWrapper(dummy.DatabaseWrapper):
    _cursor = refuse
    ensure_connection = refuse
    _commit = refuse
    _savepoint_commit = refuse
    _set_autocommit = refuse
    client_class = DatabaseClient
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
