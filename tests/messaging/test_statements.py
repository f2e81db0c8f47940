"""The messaging layer's prebuilt statements write the rows the ORM would, on every database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from project.messaging.models import Acknowledgement, Delivery, InboxRecord, OutboxEvent
from project.messaging.outbox import statements

pytestmark = pytest.mark.django_db


def event_row(**overrides: object) -> tuple:
    values = {
        "event_id": uuid.uuid4(),
        "event_type": "testapp.Pinged",
        "schema_version": 2,
        "producer": "testapp",
        "aggregate_type": "tally",
        "aggregate_id": "K-1",
        "aggregate_version": None,
        "correlation_id": uuid.uuid4(),
        "causation_id": None,
        "occurred_at": datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
        "payload": {"key": "Ünïcödé ✓", "amount": 3, "nested": {"list": [1, "two", None], "flag": True}},
        "trace_context": None,
        **overrides,
    }
    return tuple(values[name] for name in statements.EVENT_COLUMNS)


def test_an_event_reads_back_through_the_orm_exactly_as_written() -> None:
    row = event_row(aggregate_version=7, causation_id=uuid.uuid4())
    traced = event_row(trace_context={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    statements.insert_events(connection.alias, [row, traced])
    for written in (row, traced):
        stored = OutboxEvent.objects.get(pk=written[0])
        assert tuple(getattr(stored, name) for name in statements.EVENT_COLUMNS) == written


def test_deliveries_get_their_ids_in_the_order_they_were_given() -> None:
    events = [event_row() for _ in range(3)]
    statements.insert_events(connection.alias, events)
    now = timezone.now()
    rows = [(event[0], f"testapp.handler_{n}", "testapp", "sent", 1, now, now) for n, event in enumerate(events)]
    ids = statements.insert_deliveries(connection.alias, rows)
    assert len(set(ids)) == 3
    for delivery_id, (event_id, handler, *_rest) in zip(ids, rows, strict=True):
        delivery = Delivery.objects.get(pk=delivery_id)
        assert (delivery.event_id, delivery.handler, delivery.status, delivery.send_count) == (
            event_id,
            handler,
            "sent",
            1,
        )
        assert delivery.created_at == delivery.last_sent_at == now and delivery.processed_at is None


def test_more_rows_than_one_statement_takes_are_split_and_all_ids_come_back() -> None:
    [event] = [event_row()]
    statements.insert_events(connection.alias, [event])
    limit = connection.features.max_query_params  # SQLite's; None on PostgreSQL
    count = 40 + limit // len(statements.DELIVERY_COLUMNS) if limit else 5000
    now = timezone.now()
    rows = [(event[0], f"testapp.h{n}", "testapp", "pending", 0, now, None) for n in range(count)]
    with CaptureQueriesContext(connection) as queries:
        ids = statements.insert_deliveries(connection.alias, rows)
    assert len(ids) == len(set(ids)) == count == Delivery.objects.count()
    assert dict(Delivery.objects.values_list("pk", "handler")) == {i: row[1] for i, row in zip(ids, rows, strict=True)}
    if limit:
        assert len([q for q in queries.captured_queries if q["sql"].startswith("INSERT")]) == 2


def test_the_inbox_refuses_a_second_record_of_one_event_for_one_handler() -> None:
    event_id, at = uuid.uuid4(), timezone.now()
    statements.insert_inbox_record(connection.alias, handler="testapp.h", event_id=event_id, event_type="a.B", at=at)
    statements.insert_inbox_record(
        connection.alias, handler="testapp.other", event_id=event_id, event_type="a.B", at=at
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        statements.insert_inbox_record(
            connection.alias, handler="testapp.h", event_id=event_id, event_type="a.B", at=at
        )
    record = InboxRecord.objects.get(handler="testapp.h")
    assert (record.event_id, record.event_type, record.processed_at) == (event_id, "a.B", at)


def test_marking_a_delivery_never_reopens_a_processed_one() -> None:
    [event] = [event_row()]
    statements.insert_events(connection.alias, [event])
    now = timezone.now()
    open_id, done_id = statements.insert_deliveries(
        connection.alias,
        [
            (event[0], "testapp.a", "testapp", "sent", 1, now, now),
            (event[0], "testapp.b", "testapp", "sent", 1, now, now),
        ],
    )
    statements.mark_delivery(connection.alias, done_id, "processed", processed_at=now)
    later = now + timedelta(seconds=5)
    statements.mark_delivery(connection.alias, done_id, "dead_lettered", processed_at=None)
    statements.mark_delivery(connection.alias, open_id, "processed", processed_at=later)
    assert Delivery.objects.get(pk=done_id).status == "processed"
    assert Delivery.objects.get(pk=done_id).processed_at == now
    assert (Delivery.objects.get(pk=open_id).status, Delivery.objects.get(pk=open_id).processed_at) == (
        "processed",
        later,
    )


def test_a_delivery_id_that_is_no_number_is_refused() -> None:
    with pytest.raises((TypeError, ValueError)):
        statements.mark_delivery(connection.alias, "12; DROP TABLE x", "processed", processed_at=None)  # type: ignore[arg-type]


def sent_delivery(at: datetime) -> tuple[uuid.UUID, int]:
    """An event and its one delivery, handed over at ``at``: (event id, delivery id)."""
    [event] = [event_row()]
    statements.insert_events(connection.alias, [event])
    [delivery_id] = statements.insert_deliveries(
        connection.alias, [(event[0], "testapp.a", "testapp", "sent", 1, at, at)]
    )
    return event[0], delivery_id


def record_and_mark(event_id: uuid.UUID, delivery_id: int, at: datetime) -> None:
    statements.insert_inbox_record(
        connection.alias,
        handler="testapp.a",
        event_id=event_id,
        event_type="testapp.Pinged",
        at=at,
        mark_processed=delivery_id,
    )


def test_the_inbox_record_and_the_delivery_mark_go_together_in_one_round_trip_on_postgresql() -> None:
    now = timezone.now()
    event_id, delivery_id = sent_delivery(now)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        record_and_mark(event_id, delivery_id, now)
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    assert InboxRecord.objects.filter(handler="testapp.a", event_id=event_id, processed_at=now).exists()
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.processed_at) == ("processed", now)


def test_the_inbox_record_and_an_acknowledgement_go_together_in_one_round_trip_on_postgresql() -> None:
    # A delivery of a producer on another database: acknowledged by a row here, with the record.
    now, event_id = timezone.now(), uuid.uuid4()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        statements.insert_inbox_record(
            connection.alias,
            handler="testapp.a",
            event_id=event_id,
            event_type="testapp.Pinged",
            at=now,
            acknowledge_to=("orders", 4711),
        )
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    assert InboxRecord.objects.filter(handler="testapp.a", event_id=event_id).exists()
    acknowledgement = Acknowledgement.objects.get()
    assert (acknowledgement.producer, acknowledgement.delivery_id, acknowledgement.outcome) == (
        "orders",
        4711,
        "processed",
    )


def test_a_second_inbox_record_fails_before_its_acknowledgement_and_both_roll_back() -> None:
    now, event_id = timezone.now(), uuid.uuid4()
    record = {"handler": "testapp.a", "event_id": event_id, "event_type": "testapp.Pinged", "at": now}
    statements.insert_inbox_record(connection.alias, **record)
    with pytest.raises(IntegrityError), transaction.atomic():
        statements.insert_inbox_record(connection.alias, **record, acknowledge_to=("orders", 4711))
    assert not Acknowledgement.objects.exists()
    assert InboxRecord.objects.filter(event_id=event_id).count() == 1


def test_a_second_inbox_record_fails_before_its_delivery_mark_and_both_roll_back() -> None:
    now = timezone.now()
    event_id, delivery_id = sent_delivery(now)
    statements.insert_inbox_record(
        connection.alias, handler="testapp.a", event_id=event_id, event_type="testapp.Pinged", at=now
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        record_and_mark(event_id, delivery_id, now)
    assert Delivery.objects.get(pk=delivery_id).status == "sent"
    assert InboxRecord.objects.filter(event_id=event_id).count() == 1


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "select-first"])
def test_inserting_new_events_skips_the_ids_the_outbox_holds_and_says_which_it_wrote(
    returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without RETURNING from a bulk insert (an old SQLite), the ids present are read first.
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returning)
    held = event_row(payload={"first": True})
    statements.insert_events(connection.alias, [held])
    fresh = [event_row(), event_row()]
    with CaptureQueriesContext(connection) as queries:
        inserted = statements.insert_new_events(connection.alias, [event_row(event_id=held[0]), *fresh])
    assert inserted == {fresh[0][0], fresh[1][0]}
    assert OutboxEvent.objects.count() == 3
    assert OutboxEvent.objects.get(pk=held[0]).payload == {"first": True}  # the first record stays
    assert len(queries) == (1 if returning else 2)
