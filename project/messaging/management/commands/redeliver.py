"""Send a consumer again what its producers delivered to it since a moment (after its database
was restored from a backup: docs/operations.md)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from project.management import DomainCommand
from project.messaging.operations import redelivery

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


class Command(DomainCommand):
    help = (
        "Put the deliveries to one consumer queue that were processed or dead-lettered since a moment back to "
        "pending, on every producer database of this process, and let the relay send them: after the "
        "consumer's database was restored from a backup taken at that moment. What it applied already is "
        "dropped by its inbox. Prints the counts per database."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--queue", required=True, help="The consumer's queue (its app label), e.g. inventory.")
        parser.add_argument(
            "--since",
            required=True,
            metavar="TIME",
            help="When the backup was taken (or a little earlier): ISO 8601 (2026-12-04T13:50:00+00:00; "
            "without a zone, the project's) or an age: 90s, 10m, 2h, 1d.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be sent again; change nothing.")

    def handle(self, *args: Any, queue: str, since: str, dry_run: bool, **opts: Any) -> None:
        moment = parse_since(since, now=timezone.now())
        results = redelivery.redeliver(queue=queue, since=moment, dry_run=dry_run)
        verb = "would redeliver" if dry_run else "redelivered"
        for result in results:
            sent = "" if result.sent is None else f"; relay sent {result.sent} pending"
            self.stdout.write(
                f"{result.database}: {verb} {result.total} to {queue} ({result.processed} processed, "
                f"{result.dead_lettered} dead-lettered){sent}"
            )
        total = sum(result.total for result in results)
        self.stdout.write(f"{verb} {total} deliveries to {queue} settled since {moment.isoformat()}")


def parse_since(value: str, *, now: datetime) -> datetime:
    """An ISO 8601 time (naive: in the current time zone) or an age before ``now`` (10m)."""
    if match := _AGO.match(value.strip()):
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--since {value!r} is neither an ISO 8601 time (2026-12-04T13:50:00+00:00) nor an age (90s, 10m, 2h, 1d)."
        ) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
