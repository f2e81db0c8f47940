"""Replay events from the outbox event log into one handler, or rebuild a projection from scratch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from project.management import DomainCommand
from project.messaging.operations import services
from project.messaging.registry.projections import all_projections, projection_named


class Command(DomainCommand):
    help = (
        "Replay events from the outbox (the event log) into a handler, in occurred_at order. Without "
        "--from-scratch every event goes through the handler's inbox: what it already applied is skipped. "
        "With --from-scratch the handler's projection is emptied, its inbox records deleted and every "
        "event replayed, in one transaction (all of a projection's handlers together: --projection). "
        "Exits 1 if an event fails (it is dead-lettered, or the rebuild is rolled back)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--handler",
            action="append",
            default=[],
            metavar="APP.HANDLER",
            help="Handler name, e.g. notifications.update_recipient_email (repeatable).",
        )
        parser.add_argument(
            "--projection",
            metavar="APP.NAME",
            help="Every handler of a registered projection, e.g. notifications.recipients.",
        )
        parser.add_argument("--event-type", metavar="TYPE", help="Only this event type, e.g. users.UserEmailChanged.")
        parser.add_argument(
            "--since", metavar="ISO", help="Only events that occurred at or after this time (ISO 8601)."
        )
        parser.add_argument(
            "--from-scratch",
            action="store_true",
            help="Reset the projection and the handlers' inbox records first, then replay everything.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be replayed; change nothing.")

    def handle(self, *args: Any, **opts: Any) -> None:
        handlers = list(opts["handler"])
        if opts["projection"]:
            projection = projection_named(opts["projection"])
            if projection is None:
                known = ", ".join(p.name for p in all_projections()) or "none"
                raise CommandError(f"Unknown projection {opts['projection']!r} (registered: {known}).")
            handlers.extend(projection.handlers)
        if not handlers:
            raise CommandError("Say which handler: --handler APP.HANDLER (or --projection APP.NAME).")
        report = services.events_replay(
            handlers=handlers,
            event_type=opts["event_type"],
            since=_parse_since(opts["since"]),
            from_scratch=opts["from_scratch"],
            dry_run=opts["dry_run"],
        )
        if report.dry_run:
            if report.projection:
                self.stdout.write(f"would reset {report.projection} and its handlers' inbox records")
            for event, handler in report.plan:
                self.stdout.write(
                    f"{event.occurred_at.isoformat()}  {event.event_type}  {event.event_id}  -> {handler}"
                )
            self.stdout.write(f"dry run: {len(report.plan)} deliveries of {report.events} events, nothing changed")
            return
        if report.projection:
            self.stdout.write(
                f"reset {report.projection}, deleted {report.inbox_records_deleted} inbox records of its handlers"
            )
        self.stdout.write(
            f"{report.events} events: applied {report.applied}, already applied {report.duplicates}, "
            f"failed {report.dead_lettered}"
        )
        for failure in report.failures:
            self.stderr.write(f"failed: {failure}")
        if report.dead_lettered:
            raise CommandError(f"{report.dead_lettered} deliveries failed and were dead-lettered (dead_letters list).")


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date or time (e.g. 2026-05-01T12:00).") from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
