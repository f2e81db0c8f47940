"""The messaging layer's fixed statements, built once per database instead of once per message.

Every handled message runs the same few statements: the inbox insert and the delivery mark, and
for each publishing call the outbox and delivery inserts. Through the ORM, building each (a query
object, its compiler, model instances) costs the CPU several times over what executing it does,
on every message (docs/performance.md, "Why the code is as it is: measured"). Here the SQL text is
built once per database from the models' own metadata (table and column names), and every
value is converted by its model field exactly as the ORM would (UUIDs as hex on SQLite, JSON
through the database's adapter, aware datetimes as the backend wants them), so the rows are the
ones ``Model.objects.create()`` would write, on every supported database. Statements still go
through Django's cursor: they are counted by ``CaptureQueriesContext`` and logged in DEBUG.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from project.messaging.models import Acknowledgement, Delivery, InboxRecord, OutboxEvent

EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "schema_version",
    "producer",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "correlation_id",
    "causation_id",
    "occurred_at",
    "payload",
    "trace_context",
)
DELIVERY_COLUMNS = ("event", "handler", "queue", "status", "send_count", "created_at", "last_sent_at")
INBOX_COLUMNS = ("handler", "event_id", "event_type", "processed_at")
ACKNOWLEDGEMENT_COLUMNS = ("producer", "delivery_id", "outcome", "created_at")


@cache
def _fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[models.Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


@lru_cache(maxsize=256)
def _insert_sql(using: str, model: type[models.Model], names: tuple[str, ...], rows: int, returning: bool) -> str:
    ops = connections[using].ops
    columns = ", ".join(ops.quote_name(field.column) for field in _fields(model, names))
    values = ", ".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * rows)
    sql = f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608
    if returning:
        sql += f" RETURNING {ops.quote_name(model._meta.pk.column)}"
    return sql


def _params(
    connection: BaseDatabaseWrapper, model: type[models.Model], names: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[Any]:
    fields = _fields(model, names)
    return [field.get_db_prep_save(value, connection) for row in rows for field, value in zip(fields, row, strict=True)]


def _insert(
    using: str, model: type[models.Model], names: tuple[str, ...], rows: Sequence[Sequence[Any]], *, returning: bool
) -> list[Any]:
    connection = connections[using]
    returning = returning and connection.features.can_return_rows_from_bulk_insert
    # As many rows per statement as the database takes parameters for (as bulk_create does).
    size = max(1, connection.ops.bulk_batch_size(_fields(model, names), rows))
    found: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(
                _insert_sql(using, model, names, len(batch), returning), _params(connection, model, names, batch)
            )
            # Rows come back in the order of VALUES on PostgreSQL and SQLite (which Django's own
            # bulk_create relies on too).
            found += [row[0] for row in cursor.fetchall()] if returning else [None] * len(batch)
    return found


def insert_events(using: str, rows: Sequence[Sequence[Any]]) -> None:
    """OutboxEvent rows, values in EVENT_COLUMNS order, in one INSERT."""
    _insert(using, OutboxEvent, EVENT_COLUMNS, rows, returning=False)


@lru_cache(maxsize=64)
def _insert_new_sql(using: str, rows: int) -> str:
    pk = connections[using].ops.quote_name(OutboxEvent._meta.pk.column)
    insert = _insert_sql(using, OutboxEvent, EVENT_COLUMNS, rows, False)
    return f"{insert} ON CONFLICT ({pk}) DO NOTHING RETURNING {pk}"


def insert_new_events(using: str, rows: Sequence[Sequence[Any]]) -> set[uuid.UUID]:
    """OutboxEvent rows as insert_events, except those whose event id the outbox holds already
    (the same message published again: a handler re-applying an event, publish.publish_many);
    returns the ids inserted. One INSERT ... ON CONFLICT DO NOTHING RETURNING where the database
    returns rows from it (PostgreSQL, SQLite 3.35+), else a SELECT of the ids present first."""
    if not rows:
        return set()
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        ids = [row[0] for row in rows]
        present = set(OutboxEvent.objects.using(using).filter(event_id__in=ids).values_list("event_id", flat=True))
        fresh = [row for row in rows if row[0] not in present]
        insert_events(using, fresh)
        return {row[0] for row in fresh}
    size = max(1, connection.ops.bulk_batch_size(_fields(OutboxEvent, EVENT_COLUMNS), rows))
    inserted: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(_insert_new_sql(using, len(batch)), _params(connection, OutboxEvent, EVENT_COLUMNS, batch))
            # SQLite hands the UUID back as the hex text it stores, PostgreSQL as a UUID.
            inserted.update(uuid.UUID(str(row[0])) for row in cursor.fetchall())
    return inserted


def insert_deliveries(using: str, rows: Sequence[Sequence[Any]]) -> list[int | None]:
    """Delivery rows, values in DELIVERY_COLUMNS order (``event`` is the event id), in one
    INSERT; their ids (None where the database cannot return them)."""
    return _insert(using, Delivery, DELIVERY_COLUMNS, rows, returning=True)


def insert_inbox_record(
    using: str,
    *,
    handler: str,
    event_id: uuid.UUID,
    event_type: str,
    at: datetime,
    mark_processed: int | None = None,
    acknowledge_to: tuple[str, int] | None = None,
) -> None:
    """The inbox row: raises IntegrityError if this handler already applied this event.

    With it, in the same transaction, one of: ``mark_processed``, the id of the producer's
    delivery (in this database) to mark processed; ``acknowledge_to``, (producer, delivery id) of
    a delivery on another database, whose "processed" acknowledgement row is inserted here. On
    PostgreSQL both statements go in one round trip (psycopg's client-side binding sends them as
    one simple query; an error in the insert skips the second).
    """
    connection = connections[using]
    sql = _insert_sql(using, InboxRecord, INBOX_COLUMNS, 1, False)
    params = _params(connection, InboxRecord, INBOX_COLUMNS, [(handler, event_id, event_type, at)])
    if mark_processed is not None:
        second: tuple[str, list[Any]] | None = _mark_delivery(connection, mark_processed, Delivery.Status.PROCESSED, at)
    elif acknowledge_to is not None:
        producer, delivery_id = acknowledge_to
        second = _acknowledgement(connection, producer, delivery_id, Acknowledgement.Outcome.PROCESSED, at)
    else:
        second = None
    with connection.cursor() as cursor:
        if second is None:
            cursor.execute(sql, params)
        elif _takes_several_statements(connection):
            cursor.execute(f"{sql}; {second[0]}", params + second[1])
        else:
            cursor.execute(sql, params)
            cursor.execute(*second)


def _takes_several_statements(connection: BaseDatabaseWrapper) -> bool:
    # PostgreSQL with client-side binding (Django's default); server-side binding (the extended
    # protocol) takes one statement per query, as SQLite does.
    return connection.vendor == "postgresql" and not connection.settings_dict["OPTIONS"].get("server_side_binding")


@cache
def _mark_delivery_sql(using: str) -> str:
    ops = connections[using].ops
    table = ops.quote_name(Delivery._meta.db_table)
    status, processed_at, pk = (
        ops.quote_name(Delivery._meta.get_field(name).column) for name in ("status", "processed_at", "id")
    )
    return f"UPDATE {table} SET {status} = %s, {processed_at} = %s WHERE {pk} = %s AND {status} <> %s"  # noqa: S608


def _mark_delivery(
    connection: BaseDatabaseWrapper, delivery_id: int, status: str, processed_at: datetime | None
) -> tuple[str, list[Any]]:
    at = Delivery._meta.get_field("processed_at").get_db_prep_save(processed_at, connection)
    pk = Delivery._meta.pk.get_db_prep_save(delivery_id, connection)  # a message's id that is no number fails
    return _mark_delivery_sql(connection.alias), [status, at, pk, Delivery.Status.PROCESSED]


def mark_delivery(using: str, delivery_id: int, status: str, *, processed_at: datetime | None) -> None:
    """Set a delivery's status, unless it is processed already (a processed delivery stays so)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(*_mark_delivery(connection, delivery_id, status, processed_at))


def _acknowledgement(
    connection: BaseDatabaseWrapper, producer: str, delivery_id: int, outcome: str, at: datetime
) -> tuple[str, list[Any]]:
    sql = _insert_sql(connection.alias, Acknowledgement, ACKNOWLEDGEMENT_COLUMNS, 1, False)
    return sql, _params(connection, Acknowledgement, ACKNOWLEDGEMENT_COLUMNS, [(producer, delivery_id, outcome, at)])


def insert_acknowledgement(using: str, *, producer: str, delivery_id: int, outcome: str, at: datetime) -> None:
    """An Acknowledgement row on the consumer's database (inside the handler's transaction when
    called from it): the relay tells the producer later (outbox.acknowledgements)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(*_acknowledgement(connection, producer, delivery_id, outcome, at))
