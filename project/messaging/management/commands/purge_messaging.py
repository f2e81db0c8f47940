"""Delete processed outbox rows, inbox rows and closed dead letters past their retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from project.messaging.operations.services import messaging_purge_expired


class Command(BaseCommand):
    help = "Purge messaging bookkeeping older than MESSAGING_RETENTION_DAYS (or --older-than-days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than-days", type=int, default=None)

    def handle(self, *args: Any, older_than_days: int | None, **options: Any) -> None:
        if older_than_days is not None and older_than_days < 0:
            raise CommandError("--older-than-days must be zero or more.")
        purged = messaging_purge_expired(older_than_days=older_than_days)
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in purged.items()))
