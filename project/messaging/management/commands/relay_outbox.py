"""Send pending outbox deliveries and re-send lost ones; once, or as a loop."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from project.messaging.operations.services import messaging_purge_expired
from project.messaging.outbox.relay import sweep
from project.messaging.registry.databases import messaging_databases


class Command(BaseCommand):
    help = (
        "Relay the transactional outbox: send pending deliveries to the broker and re-send those "
        "sent but never processed. Safe to run several at once (SKIP LOCKED on PostgreSQL)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until interrupted.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between sweeps (--loop).")
        parser.add_argument("--database", action="append", help="Database alias (default: all).")
        parser.add_argument(
            "--purge-every",
            type=float,
            default=3600.0,
            help="Seconds between purges of expired bookkeeping rows (--loop; 0: never). A domain "
            "deployed alone has no messaging worker to do it.",
        )

    def handle(
        self,
        *args: Any,
        loop: bool,
        interval: float,
        database: list[str] | None,
        purge_every: float,
        **options: Any,
    ) -> None:
        aliases = database or messaging_databases()
        unknown = [a for a in aliases if a not in connections]
        if unknown:
            raise CommandError(f"Unknown database alias: {', '.join(unknown)}")
        if interval <= 0:
            raise CommandError("--interval must be positive.")
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        purged_at = time.monotonic()
        while True:
            for alias in aliases:
                try:
                    report = sweep(using=alias)
                except Exception as exc:  # broker or database down: report and keep looping
                    if not loop:
                        raise CommandError(f"Relay failed on {alias}: {exc!r}") from exc
                    self.stderr.write(f"relay: {alias}: {exc!r}; retrying in {interval}s")
                    continue
                if report.sent or report.requeued or report.acknowledged or not loop:
                    self.stdout.write(
                        f"{alias}: sent {report.sent}, re-queued {report.requeued} lost, "
                        f"confirmed {report.confirmed}, dead-lettered {report.dead_lettered}, "
                        f"acknowledged {report.acknowledged}"
                    )
            if not loop or stopping:
                return
            if purge_every and time.monotonic() - purged_at >= purge_every:
                purged_at = time.monotonic()
                self._purge()
            time.sleep(interval)
            if stopping:
                return

    def _purge(self) -> None:
        try:
            purged = messaging_purge_expired()
        except Exception as exc:  # the database is down: the next round tries again
            self.stderr.write(f"relay: purge failed: {exc!r}")
            return
        if any(purged.values()):
            self.stdout.write("purged " + ", ".join(f"{count} {name}" for name, count in purged.items()))
