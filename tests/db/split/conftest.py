"""These tests need orders and inventory on databases of their own (DATABASE_URL_ORDERS and
DATABASE_URL_INVENTORY): CI's split step sets them, and tests/db/test_split_databases.py runs
this folder in a subprocess that does. Without them the folder is not collected at all."""

from __future__ import annotations

from django.conf import settings

SPLIT = {"orders", "inventory"} <= set(settings.DATABASES)
collect_ignore_glob = [] if SPLIT else ["test_*.py"]
