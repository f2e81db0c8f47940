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
