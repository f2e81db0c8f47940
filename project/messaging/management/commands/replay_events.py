"""Replay events from the outbox event log into one handler, or rebuild a projection from scratch."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from project.management import DomainCommand
from project.messaging.models import ProjectionRebuild
from project.messaging.operations import selectors, services
from project.messaging.registry.projections import all_projections, projection_named, projection_of
from project.progress import Progress


class Command(DomainCommand):
    help = (
        "Replay events from the outbox (the event log) into a handler, in occurred_at order. Without "
        "--from-scratch every event goes through the handler's inbox: what it already applied is skipped. "
        "With --from-scratch the handler's projection is emptied, its inbox records deleted and every "
        "event replayed, in batches of --batch-size deliveries, each its own transaction, with a checkpoint "
        "(all of a projection's handlers together: --projection); a rebuild that was interrupted or stopped "
        "is resumed by running the same command again (--restart: start it over). Shows progress as it goes. "
        "Exits 1 if an event fails (it is dead-lettered, or the rebuild stops before it), 130 if interrupted."
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
        parser.add_argument(
            "--restart",
            action="store_true",
            help="With --from-scratch: start an unfinished rebuild over (reset again) instead of resuming it.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=services.REBUILD_BATCH_SIZE,
            metavar="N",
            help=f"With --from-scratch: deliveries per transaction (default {services.REBUILD_BATCH_SIZE}).",
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
        since = _parse_since(opts["since"])
        progress = Progress(self.stdout, _progress_title(opts, handlers), total=None, unit="deliveries")

        def on_progress(done: int, total: int) -> None:
            progress.update(done, total=total)

        try:
            with _sigterm_as_interrupt(), progress:
                report = services.events_replay(
                    handlers=handlers,
                    event_type=opts["event_type"],
                    since=since,
                    from_scratch=opts["from_scratch"],
                    restart=opts["restart"],
                    batch_size=opts["batch_size"],
                    dry_run=opts["dry_run"],
                    on_progress=on_progress,
                )
        except KeyboardInterrupt:
            raise CommandError(self._interrupted(opts, handlers), returncode=130) from None
        if report.dry_run:
            if report.projection:
                self.stdout.write(f"would reset {report.projection} and its handlers' inbox records")
            for event, handler in report.plan:
                self.stdout.write(
                    f"{event.occurred_at.isoformat()}  {event.event_type}  {event.event_id}  -> {handler}"
                )
            self.stdout.write(f"dry run: {len(report.plan)} deliveries of {report.events} events, nothing changed")
            return
        if report.resumed:
            self.stdout.write(
                f"resumed the unfinished rebuild of {report.projection}: {report.already_rebuilt} deliveries "
                "were already committed"
            )
        elif report.projection:
            self.stdout.write(
                f"reset {report.projection}, deleted {report.inbox_records_deleted} inbox records of its handlers"
            )
        if report.projection:
            self.stdout.write(f"rebuilt {report.projection} in {report.batches} transactions")
        self.stdout.write(
            f"{report.events} events: applied {report.applied}, already applied {report.duplicates}, "
            f"failed {report.dead_lettered}"
        )
        for failure in report.failures:
            self.stderr.write(f"failed: {failure}")
        if report.dead_lettered:
            raise CommandError(f"{report.dead_lettered} deliveries failed and were dead-lettered (dead_letters list).")

    def _interrupted(self, opts: dict[str, Any], handlers: list[str]) -> str:
        if not opts["from_scratch"]:
            return "Interrupted: every event replayed so far is committed; replaying again skips them."
        name = opts["projection"] or _projection_title(handlers)
        rebuild = _checkpoint_of(name)
        if rebuild is None or rebuild.finished:
            return f"Interrupted before the rebuild of {name} changed anything."
        return (
            f"Interrupted: the rebuild of {name} stopped after {rebuild.deliveries_done} of "
            f"{rebuild.deliveries_total} deliveries ({rebuild.batches_committed} batches committed) and is "
            "marked unfinished. Run the same command again to resume it (or add --restart to start over)."
        )


def _progress_title(opts: dict[str, Any], handlers: list[str]) -> str:
    if opts["from_scratch"]:
        return f"rebuilding {opts['projection'] or _projection_title(handlers)}"
    return f"replaying into {opts['projection'] or ', '.join(handlers)}"


def _projection_title(handlers: list[str]) -> str:
    projection = projection_of(handlers[0]) if handlers else None
    return projection.name if projection else ", ".join(handlers)


def _checkpoint_of(name: str) -> ProjectionRebuild | None:
    projection = projection_named(name)
    if projection is None:
        return None
    return selectors.projection_rebuild(projection=projection.name, app_label=projection.app_label)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn a SIGTERM (kill) into the KeyboardInterrupt of Ctrl-C: the open batch rolls back and the
    command says where the rebuild stopped (the checkpoint is right either way)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (call_command from a worker thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date or time (e.g. 2026-05-01T12:00).") from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
