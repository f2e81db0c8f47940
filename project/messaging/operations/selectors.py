"""Read models for operators: the story of one correlation id, and dead letters grouped by cause.

A correlation id ties together everything one request (or one first event) caused. Its timeline
lists, in time order, every event published under it (with its producer and the handlers it
was delivered to), every delivery (status, send count, sent and processed times, and how long
after the event it was processed), every inbox record (a handler applied the event) and every
dead letter (error, attempts, replays). Domain apps add their own rows (orders adds its saga
steps) by building ``TimelineEntry`` objects too and merging with ``merge_timelines``.

Each messaging table is read on every database alias and never joined across them, as the
relay does: a producer's rows and a consumer's rows may live on different databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from project.messaging.contract.tracing import trace_id_of
from project.messaging.models import DeadLetter, Delivery, InboxRecord, OutboxEvent, ProjectionRebuild
from project.messaging.registry.databases import database_for, messaging_databases

EntryKind = Literal["event", "delivery", "inbox", "dead_letter", "saga_step"]
OPEN_DEAD_LETTER = (DeadLetter.Status.DEAD, DeadLetter.Status.REPLAYING)


@dataclass(frozen=True)
class TimelineEntry:
    """One row of a timeline. ``at`` orders the rows; the other fields depend on ``kind``.

    - event: ``source`` is the producer, ``consumers`` the handlers it was delivered to;
    - delivery: ``source`` the handler, ``attempts`` the send count, ``duration`` processed - occurred;
    - inbox: ``source`` the handler that applied the event, ``duration`` applied - occurred;
    - dead_letter: ``source`` the handler, ``attempts`` its failed attempts, ``replays`` its replay count;
    - saga_step (added by orders): ``source`` the step's action, ``duration`` replied - sent.
    """

    at: datetime
    kind: EntryKind
    summary: str
    event_id: uuid.UUID | None = None
    event_type: str = ""
    source: str = ""
    status: str = ""
    detail: str = ""
    attempts: int | None = None
    replays: int | None = None
    duration: timedelta | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    consumers: tuple[str, ...] = ()
    times: dict[str, datetime | None] = field(default_factory=dict)
    ref: str = ""  # the row's own key: delivery id, dead letter id, saga step id...
    # The trace the event was published in (its envelope's trace context), "" if not traced:
    # what to look up in the tracing backend.
    trace_id: str = ""

    @property
    def duration_ms(self) -> int | None:
        return None if self.duration is None else round(self.duration.total_seconds() * 1000)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_ms"] = self.duration_ms
        data.pop("duration")
        return data


# Rows with the same time keep a stable, causal-looking order: the event, then its inbox
# record, what its handler did, and the delivery closed after the handler's commit.
_KIND_ORDER = {"event": 0, "saga_step": 1, "inbox": 2, "dead_letter": 3, "delivery": 4}


def _sort_key(entry: TimelineEntry) -> tuple[Any, ...]:
    return (entry.at, _KIND_ORDER.get(entry.kind, 9), entry.summary, entry.ref)


def merge_timelines(*parts: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """Merge rows from several sources into one time-ordered timeline (exact duplicates dropped)."""
    seen: set[tuple[str, str, str]] = set()
    merged = []
    for part in parts:
        for entry in part:
            key = (entry.kind, entry.ref, str(entry.event_id))
            if key in seen:
                continue
            seen.add(key)
            merged.append(entry)
    return sorted(merged, key=_sort_key)


def _events_for(correlation_ids: Sequence[uuid.UUID]) -> list[OutboxEvent]:
    events = []
    for alias in messaging_databases():
        events.extend(
            OutboxEvent.objects.using(alias)
            .filter(correlation_id__in=correlation_ids)
            .prefetch_related("deliveries")
            .order_by("occurred_at")
        )
    return events


def _event_entry(event: OutboxEvent, deliveries: Sequence[Delivery]) -> TimelineEntry:
    consumers = tuple(sorted(d.handler for d in deliveries))
    aggregate = f"{event.aggregate_type} {event.aggregate_id}"
    if event.aggregate_version is not None:
        aggregate += f" v{event.aggregate_version}"
    return TimelineEntry(
        at=event.occurred_at,
        kind="event",
        summary=f"{event.event_type} published by {event.producer}",
        event_id=event.event_id,
        event_type=event.event_type,
        source=event.producer,
        detail=aggregate,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        consumers=consumers,
        times={"occurred_at": event.occurred_at},
        ref=str(event.event_id),
        trace_id=trace_id_of(event.trace_context),
    )


def _delivery_entry(event: OutboxEvent, delivery: Delivery) -> TimelineEntry:
    at = delivery.processed_at or delivery.last_sent_at or delivery.created_at
    duration = delivery.processed_at - event.occurred_at if delivery.processed_at else None
    return TimelineEntry(
        at=at,
        kind="delivery",
        summary=f"{event.event_type} -> {delivery.handler}: {delivery.status}",
        event_id=event.event_id,
        event_type=event.event_type,
        source=delivery.handler,
        status=delivery.status,
        attempts=delivery.send_count,
        duration=duration,
        correlation_id=event.correlation_id,
        times={
            "created_at": delivery.created_at,
            "last_sent_at": delivery.last_sent_at,
            "processed_at": delivery.processed_at,
        },
        ref=str(delivery.pk),
        trace_id=trace_id_of(event.trace_context),
    )


def _inbox_entry(record: InboxRecord, events: dict[uuid.UUID, OutboxEvent]) -> TimelineEntry:
    event = events.get(record.event_id)
    occurred_at = event.occurred_at if event is not None else None
    return TimelineEntry(
        at=record.processed_at,
        kind="inbox",
        summary=f"{record.handler} applied {record.event_type}",
        event_id=record.event_id,
        event_type=record.event_type,
        source=record.handler,
        status="applied",
        duration=record.processed_at - occurred_at if occurred_at else None,
        times={"processed_at": record.processed_at},
        ref=str(record.pk),
        trace_id=trace_id_of(event.trace_context) if event is not None else "",
    )


def dead_letter_entry(letter: DeadLetter) -> TimelineEntry:
    """A dead letter as a timeline row, at the time of its latest failure."""
    return TimelineEntry(
        at=letter.last_failed_at,
        kind="dead_letter",
        summary=f"{letter.handler} failed on {letter.event_type}: {letter.error_type.rsplit('.', 1)[-1]}",
        event_id=letter.event_id,
        event_type=letter.event_type,
        source=letter.handler,
        status=letter.status,
        detail=letter.discard_reason if letter.status == DeadLetter.Status.DISCARDED else letter.error_message,
        attempts=letter.attempts,
        replays=letter.replay_count,
        correlation_id=letter.correlation_id,
        times={
            "first_failed_at": letter.first_failed_at,
            "last_failed_at": letter.last_failed_at,
            "last_replayed_at": letter.last_replayed_at,
            "resolved_at": letter.resolved_at,
        },
        ref=str(letter.pk),
        trace_id=trace_id_of(letter.envelope.get("trace_context")) if isinstance(letter.envelope, dict) else "",
    )


def correlations_timeline(correlation_ids: Sequence[uuid.UUID]) -> list[TimelineEntry]:
    """The merged story of several correlation ids (e.g. every chain that touched one order)."""
    ids = list(dict.fromkeys(correlation_ids))
    if not ids:
        return []
    entries: list[TimelineEntry] = []
    events = _events_for(ids)
    by_id = {e.event_id: e for e in events}
    for event in events:
        deliveries = list(event.deliveries.all())
        entries.append(_event_entry(event, deliveries))
        entries.extend(_delivery_entry(event, d) for d in deliveries)
    event_ids = list(by_id)
    for alias in messaging_databases():
        inbox = InboxRecord.objects.using(alias).filter(event_id__in=event_ids)
        entries.extend(_inbox_entry(record, by_id) for record in inbox)
        letters = DeadLetter.objects.using(alias).filter(Q(correlation_id__in=ids) | Q(event_id__in=event_ids))
        entries.extend(dead_letter_entry(letter) for letter in letters)
    return merge_timelines(entries)


def correlation_timeline(correlation_id: uuid.UUID) -> list[TimelineEntry]:
    """Everything that happened under one correlation id, in time order."""
    return correlations_timeline([correlation_id])


def aggregate_correlation_ids(aggregates: Iterable[tuple[str, str]]) -> list[uuid.UUID]:
    """The correlation ids of every event about any of ``aggregates`` ((type, id) pairs), the
    earliest chain first.

    An aggregate's story may span several chains (placed by one request, cancelled by another,
    expired by the beat), and a process may act through other aggregates (an order's saga
    through each line's reservation): merge their timelines to see all of it.
    """
    about = Q()
    for aggregate_type, aggregate_id in aggregates:
        about |= Q(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    if not about:
        return []
    found: dict[uuid.UUID, datetime] = {}
    for alias in messaging_databases():
        rows = (
            OutboxEvent.objects.using(alias).filter(about).values("correlation_id").annotate(first=Min("occurred_at"))
        )
        for row in rows:
            cid, first = row["correlation_id"], row["first"]
            if cid not in found or first < found[cid]:
                found[cid] = first
    return sorted(found, key=found.__getitem__)


def aggregate_timeline(aggregates: Iterable[tuple[str, str]]) -> list[TimelineEntry]:
    """Every event, delivery, inbox record and dead letter about any of ``aggregates`` ((type,
    id) pairs), in time order: the timelines of all the chains that published an event about
    one of them, merged."""
    return correlations_timeline(aggregate_correlation_ids(aggregates))


def first_correlation_id(*, aggregate_type: str, aggregate_id: str, event_type: str) -> uuid.UUID | None:
    """The correlation id of the first event of ``event_type`` about an aggregate (None if none)."""
    for alias in messaging_databases():
        cid = (
            OutboxEvent.objects.using(alias)
            .filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id, event_type=event_type)
            .order_by("occurred_at")
            .values_list("correlation_id", flat=True)
            .first()
        )
        if cid is not None:
            return cid
    return None


@dataclass(frozen=True)
class ChainOrigin:
    """Where an aggregate's story started: its first event's correlation id and trace context."""

    correlation_id: uuid.UUID
    trace_context: dict[str, str] | None


def first_event_origin(*, aggregate_type: str, aggregate_id: str, event_type: str) -> ChainOrigin | None:
    """The correlation id and trace context of the first event of ``event_type`` about an aggregate,
    to continue its story later (``correlation(origin.correlation_id, trace_context=...)``)."""
    for alias in messaging_databases():
        row = (
            OutboxEvent.objects.using(alias)
            .filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id, event_type=event_type)
            .order_by("occurred_at")
            .values_list("correlation_id", "trace_context")
            .first()
        )
        if row is not None:
            return ChainOrigin(correlation_id=row[0], trace_context=row[1])
    return None


# --- Dead letters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterGroup:
    """Dead letters sharing a fingerprint: one handler, one message type, one cause
    (project.messaging.inbox.consumer.fingerprint)."""

    fingerprint: str
    error_type: str
    handlers: tuple[str, ...]
    event_types: tuple[str, ...]
    count: int
    open_count: int
    first_seen: datetime
    last_seen: datetime
    sample_message: str
    replays: int

    @property
    def error_class(self) -> str:
        """``OperationalError`` for ``django.db.utils.OperationalError``: the name people say."""
        return self.error_type.rsplit(".", 1)[-1]


def dead_letter_groups(
    *, open_only: bool = True, selected: Sequence[QuerySet[DeadLetter]] | None = None
) -> list[DeadLetterGroup]:
    """Dead letters grouped by fingerprint, the most frequent cause first, merged across databases.

    ``selected``: the letters to group, one queryset per database (``dead_letters list --groups``
    passes its filtered selection); by default every letter (open ones only if ``open_only``).
    """
    if selected is None:
        selected = []
        for alias in messaging_databases():
            qs: QuerySet[DeadLetter] = DeadLetter.objects.using(alias).all()
            selected.append(qs.filter(status__in=OPEN_DEAD_LETTER) if open_only else qs)
    merged: dict[str, dict[str, Any]] = {}
    for qs in selected:
        rows = (
            qs.order_by()
            .values("fingerprint", "error_type", "handler", "event_type")
            .annotate(
                count=Count("id"),
                open_count=Count("id", filter=Q(status__in=OPEN_DEAD_LETTER)),
                first=Min("first_failed_at"),
                last=Max("last_failed_at"),
                sample=Max("error_message"),
                replays=Sum("replay_count"),
            )
        )
        for row in rows:
            group = merged.setdefault(
                row["fingerprint"],
                {
                    "error_type": row["error_type"],
                    "handlers": set(),
                    "event_types": set(),
                    "count": 0,
                    "open_count": 0,
                    "first": row["first"],
                    "last": row["last"],
                    "sample": row["sample"],
                    "replays": 0,
                },
            )
            group["handlers"].add(row["handler"])
            group["event_types"].add(row["event_type"])
            group["count"] += row["count"]
            group["open_count"] += row["open_count"]
            group["replays"] += row["replays"] or 0
            group["first"] = min(group["first"], row["first"])
            if row["last"] >= group["last"]:
                group["last"], group["sample"] = row["last"], row["sample"]
    groups = [
        DeadLetterGroup(
            fingerprint=fp,
            error_type=g["error_type"],
            handlers=tuple(sorted(g["handlers"])),
            event_types=tuple(sorted(g["event_types"])),
            count=g["count"],
            open_count=g["open_count"],
            first_seen=g["first"],
            last_seen=g["last"],
            sample_message=g["sample"] or "",
            replays=g["replays"],
        )
        for fp, g in merged.items()
    ]
    return sorted(groups, key=lambda g: (-g.open_count, -g.count, g.fingerprint))


def dead_letters_open(*, fingerprint: str | None = None) -> list[DeadLetter]:
    """Open dead letters (dead or replay sent), on every database, newest failure first."""
    letters: list[DeadLetter] = []
    for alias in messaging_databases():
        qs = DeadLetter.objects.using(alias).filter(status__in=OPEN_DEAD_LETTER)
        if fingerprint is not None:
            qs = qs.filter(fingerprint=fingerprint)
        letters.extend(qs)
    return sorted(letters, key=lambda letter: letter.last_failed_at, reverse=True)


def events_for_replay(*, event_types: Sequence[str], since: datetime | None = None) -> list[OutboxEvent]:
    """Events of these types from the outbox (the event log), oldest first, from every database."""
    events: list[OutboxEvent] = []
    for alias in messaging_databases():
        qs = OutboxEvent.objects.using(alias).filter(event_type__in=event_types)
        if since is not None:
            qs = qs.filter(occurred_at__gte=since)
        events.extend(qs)
    return sorted(events, key=lambda e: (e.occurred_at, str(e.event_id)))


def projection_rebuild(*, projection: str, app_label: str) -> ProjectionRebuild | None:
    """The checkpoint of the projection's last rebuild from scratch (None: never rebuilt)."""
    return ProjectionRebuild.objects.using(database_for(app_label)).filter(projection=projection).first()


def projection_rebuilds_unfinished() -> list[ProjectionRebuild]:
    """Rebuilds that were interrupted or stopped on a failure: their projections are incomplete."""
    rebuilds: list[ProjectionRebuild] = []
    for alias in messaging_databases():
        rebuilds.extend(ProjectionRebuild.objects.using(alias).filter(finished_at__isnull=True))
    return sorted(rebuilds, key=lambda r: r.projection)
