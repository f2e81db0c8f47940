"""Draw the saga's transition table (orders.statemachine.TRANSITIONS) into docs/domains.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders import statemachine


def domains_doc() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "domains.md"


class Command(BaseCommand):
    help = (
        "Rewrite the order saga's state diagram and transition table in docs/domains.md (between its "
        "saga-table markers) from orders/statemachine.py. --check: only fail if the doc is stale (CI)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Exit non-zero if docs/domains.md is stale.")

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        path = domains_doc()
        doc = path.read_text()
        fresh = statemachine.render_into(doc)
        if check:
            if fresh != doc:
                raise CommandError(f"{path} is stale: run `manage.py saga_table` and commit the result.")
            self.stdout.write(f"{path} is up to date.")
            return
        path.write_text(fresh)
        self.stdout.write(f"Wrote the saga table into {path}.")
