"""A router that puts the test consumer app (testapp) on a database of its own, "elsewhere"."""

from __future__ import annotations

from typing import Any

CONSUMER_DB = "elsewhere"


class TestappElsewhere:
    """testapp's models (and so its inbox, dead letters and acknowledgements) on "elsewhere"."""

    __test__ = False

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return CONSUMER_DB if model._meta.app_label == "testapp" else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return self.db_for_read(model, **hints)


class TestappTablesElsewhere:
    """testapp's tables also exist on "elsewhere" (project.db.router's DomainRouter migrates a
    domain app only on its own database), so that a test can move testapp there at run time."""

    __test__ = False

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return True if app_label == "testapp" and db == CONSUMER_DB else None
