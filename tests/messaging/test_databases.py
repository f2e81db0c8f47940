"""The one multi-database seam: every messaging row's database is chosen by database_for."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings

from project.messaging.registry.databases import database_for, messaging_databases


class PublishingElsewhere:
    """A router that puts one domain on a database of its own (as the per-domain issue will)."""

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "publishing_db" if model._meta.app_label == "publishing" else None


def test_an_app_is_on_its_own_database_when_it_has_one_and_on_the_default_otherwise() -> None:
    # With no DATABASE_URL_<LABEL> set (the single database), every answer is "default".
    for label in ("orders", "inventory", "notifications", "articles", "publishing"):
        assert database_for(label) == (label if label in settings.DATABASES else "default")
    assert database_for("messaging") == "default"
    domain_aliases = set(settings.DATABASES) & set(settings.DOMAIN_APPS)
    assert messaging_databases() == ["default", *sorted(domain_aliases)]


def test_an_app_the_router_moves_takes_its_messaging_rows_and_the_readers_along() -> None:
    # Before the project's routers, not instead of them: the other domains stay where they are.
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.PublishingElsewhere", *settings.DATABASE_ROUTERS]):
        assert database_for("publishing") == "publishing_db"
        assert database_for("orders") == ("orders" if "orders" in settings.DATABASES else "default")
        # The readers go over the databases this process has: an alias it lacks is not one.
        assert "publishing_db" not in messaging_databases()


def test_an_unknown_app_label_falls_back_to_the_default_database() -> None:
    assert database_for("no_such_app") == "default"
