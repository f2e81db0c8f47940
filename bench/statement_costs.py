"""What one statement costs: built by the ORM or written as SQL, and a round trip to PostgreSQL.

    python -m bench.statement_costs [--calls 2000]

In one process, nothing else running, on a database of its own (PostgreSQL when ``DATABASE_URL``
says so, else SQLite, as ``bench.run``): the CPU per call of the statements inventory's
reservation runs (a ``get()`` that finds nothing, a conditional ``update()`` with ``F()``
expressions, a ``create()``, a ``get()`` by a unique key), each through the ORM and as the same
SQL through Django's cursor, inside one transaction that is rolled back. On PostgreSQL also the
server's CPU per round trip (the backend's CPU seconds, read from /proc) and the client's, for
``SELECT 1`` and for a transaction of one insert.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import infra


def _per_call(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(min(200, calls)):
        fn()
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1e6


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _orm_against_sql(calls: int) -> list[tuple[str, float, float]]:
    from django.db import connection, transaction
    from django.db.models import F

    from inventory.models import Reservation, StockItem

    ops = connection.ops
    reservation, stock = (ops.quote_name(m._meta.db_table) for m in (Reservation, StockItem))
    as_uuid = Reservation._meta.get_field("order_id")
    at = Reservation._meta.get_field("created_at")

    def orm_get_miss() -> None:
        with contextlib.suppress(Reservation.DoesNotExist):
            Reservation.objects.get(order_id=uuid.uuid4(), line_id=uuid.uuid4())

    def sql_get_miss() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "id", "sku", "quantity", "status" FROM {reservation} WHERE "order_id" = %s AND "line_id" = %s',  # noqa: S608
                [
                    as_uuid.get_db_prep_value(uuid.uuid4(), connection),
                    as_uuid.get_db_prep_value(uuid.uuid4(), connection),
                ],
            )
            cursor.fetchone()

    def orm_take() -> None:
        StockItem.objects.filter(sku="COST-1", on_hand__gte=F("reserved") + 1).update(reserved=F("reserved") + 1)

    def sql_take() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE {stock} SET "reserved" = "reserved" + %s WHERE "on_hand" >= "reserved" + %s AND "sku" = %s',  # noqa: S608
                [1, 1, "COST-1"],
            )

    def orm_create() -> None:
        Reservation.objects.create(order_id=uuid.uuid4(), line_id=uuid.uuid4(), sku="COST-1", quantity=1)

    def sql_create() -> None:
        from django.utils import timezone

        now = at.get_db_prep_value(timezone.now(), connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {reservation} ("order_id", "line_id", "sku", "quantity", "status", "created_at", '  # noqa: S608
                '"updated_at") VALUES (%s, %s, %s, %s, %s, %s, %s)',
                [
                    as_uuid.get_db_prep_value(uuid.uuid4(), connection),
                    as_uuid.get_db_prep_value(uuid.uuid4(), connection),
                    "COST-1",
                    1,
                    "reserved",
                    now,
                    now,
                ],
            )

    def orm_get() -> None:
        StockItem.objects.get(sku="COST-1")

    def sql_get() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT "on_hand", "reserved" FROM {stock} WHERE "sku" = %s', ["COST-1"])  # noqa: S608
            cursor.fetchone()

    rows = []
    with transaction.atomic():
        StockItem.objects.create(sku="COST-1", name="cost probe", on_hand=10**9)
        for label, orm, sql in (
            ("get() finding nothing (2 UUIDs)", orm_get_miss, sql_get_miss),
            ("conditional update() with F()", orm_take, sql_take),
            ("create()", orm_create, sql_create),
            ("get() by a unique key", orm_get, sql_get),
        ):
            rows.append((label, _per_call(orm, calls), _per_call(sql, calls)))
        transaction.set_rollback(True)
    return rows


def _round_trips(database_url: str, calls: int) -> list[tuple[str, float, float]]:
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("CREATE TEMPORARY TABLE cost_probe (id uuid PRIMARY KEY, at timestamptz)")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        cursor = conn.cursor()

        def insert_transaction() -> None:
            cursor.execute("BEGIN")
            cursor.execute("INSERT INTO cost_probe VALUES (%s, now())", (uuid.uuid4(),))
            cursor.execute("COMMIT")

        rows = []
        for label, fn, trips in (
            ("SELECT 1", lambda: cursor.execute("SELECT 1"), 1),
            ("BEGIN, INSERT, COMMIT", insert_transaction, 3),
        ):
            server_before = _backend_cpu(pid)
            client = _per_call(fn, calls)
            server = (_backend_cpu(pid) - server_before) / (calls + min(200, calls)) * 1e6
            rows.append((f"{label} ({trips} round trip{'s' if trips > 1 else ''})", server, client))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)

    with infra.own_django("bench-statements-", with_broker=False) as (_, database, _broker):
        print(f"{database.vendor}: us of CPU per call, one process")
        print(f"  {'statement':40} {'ORM':>6} {'SQL':>6}")
        for label, orm, sql in _orm_against_sql(args.calls):
            print(f"  {label:40} {orm:6.0f} {sql:6.0f}")
        if database.vendor == "postgresql":
            from django.db import connections

            connections.close_all()
            print(f"  {'round trips (psycopg, no Django)':40} {'server':>6} {'client':>6}")
            for label, server, client in _round_trips(database.url, args.calls):
                print(f"  {label:40} {server:6.0f} {client:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
