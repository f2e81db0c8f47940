"""Operator use cases of the messaging layer: replay or discard dead letters, replay the event log
into a handler (or rebuild a projection from scratch), purge old rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.errors import DomainError
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox import consumer
from project.messaging.models import DeadLetter, Delivery, InboxRecord, OutboxEvent, ProjectionRebuild
from project.messaging.operations import selectors
from project.messaging.outbox.relay import send_messages
from project.messaging.registry.databases import database_for, messaging_databases
from project.messaging.registry.projections import Projection, projection_of
from project.messaging.registry.routing import Subscription, all_subscriptions


class DeadLetterStateError(DomainError):
    """The dead letter is not in a state that allows the requested action."""

    code = "dead-letter-state"


def _dead_letter_db(dead_letter_id: int, database: str | None) -> str:
    # A dead letter lives on its consumer's database. Ids are per database (two databases may
    # each have a #5): a caller that read the letter names its database; otherwise the first
    # database that has one of that id.
    if database is not None:
        if database not in messaging_databases():
            raise DeadLetter.DoesNotExist(f"No database {database!r} holds messaging rows.")
        return database
    for alias in messaging_databases():
        if DeadLetter.objects.using(alias).filter(pk=dead_letter_id).exists():
            return alias
    raise DeadLetter.DoesNotExist(f"No dead letter #{dead_letter_id}.")


def dead_letter_replay(*, dead_letter_id: int, inline: bool = False, database: str | None = None) -> DeadLetter:
    """Send a dead letter's delivery to its handler again (after the operator fixed the cause).

    The replay goes through the handler's inbox, so a letter whose event was applied meanwhile
    changes nothing and is simply closed. With ``inline`` the handler runs in this process (for
    commands run by an operator); otherwise the message goes to the handler's queue after commit.
    ``database``: the letter's database (ids are per database), when the caller knows it.
    """
    using = _dead_letter_db(dead_letter_id, database)
    with transaction.atomic(using=using, durable=True):
        letter = DeadLetter.objects.using(using).select_for_update().get(pk=dead_letter_id)
        if letter.status in (DeadLetter.Status.RESOLVED, DeadLetter.Status.DISCARDED):
            raise DeadLetterStateError(f"Dead letter #{letter.pk} is {letter.status}: nothing to replay.")
        if InboxRecord.objects.using(using).filter(handler=letter.handler, event_id=letter.event_id).exists():
            letter.status = DeadLetter.Status.RESOLVED
            letter.resolved_at = timezone.now()
            letter.save(update_fields=["status", "resolved_at"])
            return letter
        letter.status = DeadLetter.Status.REPLAYING
        letter.replay_count += 1
        letter.last_replayed_at = timezone.now()
        letter.save(update_fields=["status", "replay_count", "last_replayed_at"])
        attempt = _replay_attempt(letter)
        if not inline:
            transaction.on_commit(lambda: send_messages([(letter.queue, attempt.task_kwargs())]), using=using)
    if inline:
        consumer.process(attempt)
    letter.refresh_from_db()
    return letter


def _replay_attempt(letter: DeadLetter) -> DeliveryAttempt:
    return DeliveryAttempt(
        envelope=letter.envelope,
        handler=letter.handler,
        delivery_id=letter.delivery_id,
        # It failed before: the consumer closes the dead letter when this attempt succeeds.
        first_failed_at=letter.first_failed_at.isoformat(),
        replay=True,
    )


def dead_letter_replay_group(*, fingerprint: str, inline: bool = False) -> list[DeadLetter]:
    """Replay every open dead letter of one cause (fingerprint), once its cause is fixed.

    Each letter is replayed on its own (see dead_letter_replay): one that fails again stays
    dead with its replay counted, and does not stop the others.
    """
    letters = selectors.dead_letters_open(fingerprint=fingerprint)
    if not letters:
        raise DeadLetterStateError(f"No open dead letter has fingerprint {fingerprint!r}.")
    replayed = []
    for letter in letters:
        try:
            replayed.append(dead_letter_replay(dead_letter_id=letter.pk, inline=inline, database=letter._state.db))
        except DeadLetterStateError:
            continue  # resolved or discarded meanwhile: nothing left to replay
    return replayed


def dead_letter_discard(*, dead_letter_id: int, reason: str, database: str | None = None) -> DeadLetter:
    """Give up on a dead letter for a recorded reason. The row stays (until retention purges it)."""
    if not reason.strip():
        raise DeadLetterStateError("A reason is required to discard a dead letter.")
    using = _dead_letter_db(dead_letter_id, database)
    with transaction.atomic(using=using, durable=True):
        letter = DeadLetter.objects.using(using).select_for_update().get(pk=dead_letter_id)
        if letter.status == DeadLetter.Status.RESOLVED:
            raise DeadLetterStateError(f"Dead letter #{letter.pk} is already resolved.")
        letter.status = DeadLetter.Status.DISCARDED
        letter.discard_reason = reason.strip()
        letter.resolved_at = timezone.now()
        letter.save(update_fields=["status", "discard_reason", "resolved_at"])
    return letter


class ReplayError(DomainError):
    """The replay request is unsafe or impossible; nothing was changed (the message says why)."""

    code = "replay-refused"


@dataclass
class ReplayReport:
    handlers: tuple[str, ...]
    projection: str = ""
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    inbox_records_deleted: int = 0
    dry_run: bool = False
    plan: list[tuple[OutboxEvent, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    batches: int = 0  # transactions a rebuild committed in this run
    resumed: bool = False  # a rebuild that went on from an unfinished one
    already_rebuilt: int = 0  # deliveries an interrupted run of a resumed rebuild had committed


def _subscriptions_of(handler_names: Sequence[str]) -> dict[str, list[Subscription]]:
    by_handler: dict[str, list[Subscription]] = {}
    for sub in all_subscriptions():
        by_handler.setdefault(sub.handler_name, []).append(sub)
    unknown = [name for name in handler_names if name not in by_handler]
    if unknown:
        raise ReplayError(f"Unknown handler {', '.join(unknown)}. Known handlers: {', '.join(sorted(by_handler))}.")
    return {name: by_handler[name] for name in handler_names}


def _projection_to_reset(handler_names: Sequence[str]) -> Projection:
    projections = {projection_of(name) for name in handler_names}
    if None in projections:
        lacking = [name for name in handler_names if projection_of(name) is None]
        raise ReplayError(
            f"--from-scratch: {', '.join(lacking)} builds no registered projection, so nothing says how to "
            "reset what it built (its app registers one with register_projection in ready())."
        )
    if len(projections) != 1:
        raise ReplayError("--from-scratch rebuilds one projection at a time.")
    projection = projections.pop()
    assert projection is not None
    if missing := sorted(set(projection.handlers) - set(handler_names)):
        raise ReplayError(
            f"--from-scratch would empty {projection.name}, which {', '.join(missing)} builds too: replay all of "
            f"its handlers together (--projection {projection.name})."
        )
    return projection


def _deliver_inline(event: OutboxEvent, handler: str, *, retry: bool) -> consumer.Result:
    attempt = DeliveryAttempt(envelope=event.envelope().to_json(), handler=handler)
    while True:
        result = consumer.process(attempt)
        if result.outcome is not consumer.Outcome.RETRY or not retry:
            return result
        time.sleep(min(result.countdown, 5.0))
        attempt = DeliveryAttempt(
            **{**attempt.__dict__, "attempt": attempt.attempt + 1, "first_failed_at": result.first_failed_at}
        )


ProgressCallback = Callable[[int, int], None]  # (deliveries done, deliveries planned)

REBUILD_BATCH_SIZE = 500  # deliveries per transaction of a rebuild from scratch


def events_replay(
    *,
    handlers: Sequence[str],
    event_type: str | None = None,
    since: datetime | None = None,
    from_scratch: bool = False,
    restart: bool = False,
    batch_size: int = REBUILD_BATCH_SIZE,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ReplayReport:
    """Replay events from the outbox (the event log) into the given handlers, oldest first.

    Without ``from_scratch`` every event goes through the handler's inbox, so what it already
    applied is skipped: this fills gaps (an event it missed) and never applies anything twice.
    Each event runs in its own transaction, like a delivery; one that fails is dead-lettered.

    With ``from_scratch`` the handlers' projection is rebuilt: see ``_rebuild``. Refused when the
    event log no longer holds every event these handlers applied (purged by retention): a
    rebuild would silently lose their effect. ``on_progress`` is called after each delivery.
    """
    names = tuple(dict.fromkeys(handlers))
    if not names:
        raise ReplayError("Name at least one handler.")
    if batch_size < 1:
        raise ReplayError("The batch size must be at least 1.")
    if restart and not from_scratch:
        raise ReplayError("--restart starts a rebuild from scratch again: it needs --from-scratch.")
    subs = _subscriptions_of(names)
    types_by_handler = {name: {s.event_type for s in handler_subs} for name, handler_subs in subs.items()}
    all_types = set().union(*types_by_handler.values())
    if event_type is not None and event_type not in all_types:
        raise ReplayError(
            f"{', '.join(names)} is not subscribed to {event_type} (it handles {', '.join(sorted(all_types))})."
        )
    types = [event_type] if event_type else sorted(all_types)
    projection = _projection_to_reset(names) if from_scratch else None
    if from_scratch and (event_type is not None or since is not None):
        raise ReplayError("--from-scratch replays every event: --event-type and --since would rebuild a partial table.")
    events = selectors.events_for_replay(event_types=types, since=since)
    plan = [(event, name) for event in events for name in names if event.event_type in types_by_handler[name]]
    report = ReplayReport(handlers=names, projection=projection.name if projection else "", events=len(events))
    report.plan, report.dry_run = plan, dry_run
    if projection is not None:
        _check_log_complete(projection, {e.event_id for e in events})
    if dry_run:
        return report
    if projection is None:
        for done, (event, name) in enumerate(plan, start=1):
            _count(report, event, name, _deliver_inline(event, name, retry=True))
            if on_progress is not None:
                on_progress(done, len(plan))
        return report
    return _rebuild(projection, plan, report, restart=restart, batch_size=batch_size, on_progress=on_progress)


def _rebuild(
    projection: Projection,
    plan: list[tuple[OutboxEvent, str]],
    report: ReplayReport,
    *,
    restart: bool,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> ReplayReport:
    """Rebuild ``projection`` from ``plan`` in batches of ``batch_size`` deliveries, each its own
    durable transaction on the projection's database, with a checkpoint (``ProjectionRebuild``).

    The first batch empties the projection (its registered reset), deletes its handlers' inbox
    records and marks the rebuild unfinished, in one transaction; each batch advances the
    checkpoint in its own transaction, and the last one marks it finished. So at any moment the
    checkpoint tells the truth: a projection whose rebuild was interrupted (Ctrl-C, kill, a crash)
    or stopped on a failure is claimed unfinished, never complete. Running the rebuild again
    resumes it: it replays what the projection's inbox does not hold yet (the inbox, not the
    checkpoint, decides, so every event is applied exactly once, even with live deliveries in
    between), unless ``restart`` asks to start from the reset again.

    A delivery that fails rolls back its batch (no dead letter: the replay stops instead) and the
    rebuild stops there. If that was the first batch, nothing changed; otherwise the batches
    before it stay committed and the checkpoint says unfinished.
    """
    db = database_for(projection.app_label)
    unfinished = ProjectionRebuild.objects.using(db).filter(projection=projection.name, finished_at__isnull=True)
    resume = not restart and unfinished.exists()
    todo = plan
    if resume:
        applied = set(
            InboxRecord.objects.using(db).filter(handler__in=projection.handlers).values_list("handler", "event_id")
        )
        todo = [(event, name) for event, name in plan if (name, event.event_id) not in applied]
        report.resumed, report.already_rebuilt = True, len(plan) - len(todo)
    done = report.already_rebuilt
    if on_progress is not None:
        on_progress(done, len(plan))
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)] or [[]]
    for number, batch in enumerate(batches, start=1):
        committed = done
        try:
            with transaction.atomic(using=db, durable=True):
                if number == 1 and not resume:
                    projection.reset()
                    report.inbox_records_deleted, _ = (
                        InboxRecord.objects.using(db).filter(handler__in=projection.handlers).delete()
                    )
                # Locked for the batch: two rebuilds of one projection advance it one batch at a time.
                checkpoint = _rebuild_checkpoint(db, projection, total=len(plan), fresh=number == 1 and not resume)
                for event, name in batch:
                    result = _deliver_inline(event, name, retry=False)
                    if result.outcome in (consumer.Outcome.RETRY, consumer.Outcome.DEAD_LETTERED):
                        raise _RebuildStopped(event, name, result.error)
                    _count(report, event, name, result)
                    done += 1
                    if on_progress is not None:
                        on_progress(done, len(plan))
                checkpoint.deliveries_done = done
                checkpoint.batches_committed += 1
                checkpoint.last_event_id = batch[-1][0].event_id if batch else checkpoint.last_event_id
                checkpoint.last_error = ""
                checkpoint.updated_at = timezone.now()
                if number == len(batches):
                    checkpoint.finished_at = checkpoint.updated_at
                checkpoint.save()
        except _RebuildStopped as stop:
            failure = f"{stop.handler} failed on {stop.event.event_type} {stop.event.event_id}: {stop.error}"
            if number == 1 and not resume:
                raise ReplayError(f"Rebuild of {projection.name} abandoned, nothing changed: {failure}") from None
            unfinished.update(last_error=failure, updated_at=timezone.now())
            raise ReplayError(
                f"Rebuild of {projection.name} stopped after {committed} of {len(plan)} deliveries: {failure}. The "
                f"{committed} before it are committed and the rebuild is marked unfinished: fix the cause and run the "
                "same command again to resume it."
            ) from None
        report.batches += 1
    return report


class _RebuildStopped(Exception):
    """A delivery of a rebuild failed: leaves the batch's transaction, which rolls it back."""

    def __init__(self, event: OutboxEvent, handler: str, error: str) -> None:
        super().__init__(error)
        self.event, self.handler, self.error = event, handler, error


def _rebuild_checkpoint(db: str, projection: Projection, *, total: int, fresh: bool) -> ProjectionRebuild:
    now = timezone.now()
    if fresh:
        checkpoint, _ = ProjectionRebuild.objects.using(db).update_or_create(
            projection=projection.name,
            defaults={
                "started_at": now,
                "updated_at": now,
                "finished_at": None,
                "deliveries_total": total,
                "deliveries_done": 0,
                "batches_committed": 0,
                "last_event_id": None,
                "last_error": "",
            },
        )
        return ProjectionRebuild.objects.using(db).select_for_update().get(pk=checkpoint.pk)
    checkpoint = ProjectionRebuild.objects.using(db).select_for_update().get(projection=projection.name)
    checkpoint.deliveries_total = total  # the log may have grown since the interrupted run planned it
    return checkpoint


def _check_log_complete(projection: Projection, logged: set) -> None:
    db = database_for(projection.app_label)
    applied = set(
        InboxRecord.objects.using(db).filter(handler__in=projection.handlers).values_list("event_id", flat=True)
    )
    if missing := applied - logged:
        raise ReplayError(
            f"The event log no longer holds {len(missing)} event(s) that {projection.name} applied (purged after "
            "MESSAGING_RETENTION_DAYS?): a rebuild from scratch would lose what they did."
        )


def _count(report: ReplayReport, event: OutboxEvent, handler: str, result: consumer.Result) -> None:
    if result.outcome is consumer.Outcome.PROCESSED:
        report.applied += 1
    elif result.outcome is consumer.Outcome.DUPLICATE:
        report.duplicates += 1
    else:
        report.dead_lettered += 1
        report.failures.append(f"{handler} x {event.event_type} {event.event_id}: {result.error}")


def messaging_purge_expired(*, older_than_days: int | None = None, chunk: int = 5000) -> dict[str, int]:
    """Delete processed outbox rows, inbox rows and closed dead letters older than the retention.

    Keep the retention well above MESSAGING_REDELIVER_AFTER: an inbox row is what makes a very
    late duplicate harmless. Deletes in chunks so no transaction holds locks for long.
    """
    days = settings.MESSAGING_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    purged = {"outbox_events": 0, "inbox_records": 0, "dead_letters": 0}
    open_statuses = [Delivery.Status.PENDING, Delivery.Status.SENT, Delivery.Status.DEAD_LETTERED]
    for alias in messaging_databases():
        events = (
            OutboxEvent.objects.using(alias)
            .filter(occurred_at__lt=cutoff)
            .exclude(deliveries__status__in=open_statuses)
        )
        purged["outbox_events"] += _delete_in_chunks(events, alias, chunk, cascade=Delivery, fk="event_id")
        purged["inbox_records"] += _delete_in_chunks(
            InboxRecord.objects.using(alias).filter(processed_at__lt=cutoff), alias, chunk
        )
        purged["dead_letters"] += _delete_in_chunks(
            DeadLetter.objects.using(alias).filter(
                last_failed_at__lt=cutoff,
                status__in=[DeadLetter.Status.RESOLVED, DeadLetter.Status.DISCARDED],
            ),
            alias,
            chunk,
        )
    return purged


def _delete_in_chunks(qs, alias: str, chunk: int, cascade=None, fk: str = "") -> int:
    total = 0
    while True:
        with transaction.atomic(using=alias):
            pks = list(qs.values_list("pk", flat=True)[:chunk])
            if not pks:
                return total
            if cascade is not None:
                cascade.objects.using(alias).filter(**{f"{fk}__in": pks}).delete()
            qs.model.objects.using(alias).filter(pk__in=pks).delete()
        total += len(pks)
