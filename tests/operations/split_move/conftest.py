"""The move's own tests need a process whose settings give orders and inventory databases of their
own (DATABASE_URL_ORDERS, DATABASE_URL_INVENTORY), as the operator's are when the move runs:
tests/operations/test_move_to_split_databases.py runs this folder in such a process (SQLite files),
and with the split PostgreSQL URLs set it can be run directly. Otherwise it is not collected."""

from __future__ import annotations

from django.conf import settings

SPLIT = {"orders", "inventory"} <= set(settings.DATABASES)
collect_ignore_glob = [] if SPLIT else ["test_*.py"]
