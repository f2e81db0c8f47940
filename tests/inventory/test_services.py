"""Inventory's rules: reservations per line, tombstones, commits and stock changes."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import IntegrityError, connections, transaction

from inventory import services
from inventory.models import Reservation, StockItem
from project.messaging.registry.databases import database_for
from tests.factories.inventory import StockItemFactory
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db


def events(event_type: str) -> list[dict]:
    return list(outbox_events("inventory").filter(event_type=event_type).values_list("payload", flat=True))


def reserve(order_id: uuid.UUID, line_id: uuid.UUID, qty: int = 2, sku: str = "CRUNCHY-ARMCHAIR") -> None:
    services.stock_reserve_line(order_id=order_id, line_id=line_id, sku=sku, quantity=qty)


def release(order_id: uuid.UUID, line_id: uuid.UUID, sku: str = "CRUNCHY-ARMCHAIR") -> None:
    services.stock_release_line(order_id=order_id, line_id=line_id, sku=sku)


@pytest.fixture
def armchairs() -> StockItem:
    return StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)


def test_reserving_a_line_holds_its_units_and_says_so(armchairs: StockItem) -> None:
    order, line = uuid.uuid4(), uuid.uuid4()
    reserve(order, line, 2)
    armchairs.refresh_from_db()
    assert (armchairs.on_hand, armchairs.reserved, armchairs.available) == (5, 2, 3)
    assert events("inventory.StockReserved") == [
        {"order_id": str(order), "line_id": str(line), "sku": "CRUNCHY-ARMCHAIR", "quantity": 2}
    ]


def test_reserving_more_than_is_available_is_refused_and_holds_nothing(armchairs: StockItem) -> None:
    reserve(uuid.uuid4(), uuid.uuid4(), 6)
    armchairs.refresh_from_db()
    assert armchairs.reserved == 0 and not Reservation.objects.exists()
    assert events("inventory.StockReservationFailed")[0]["code"] == "insufficient_stock"


def test_reserving_the_same_line_again_answers_the_same_and_takes_nothing_more(armchairs: StockItem) -> None:
    order, line = uuid.uuid4(), uuid.uuid4()
    reserve(order, line, 2)
    reserve(order, line, 2)
    armchairs.refresh_from_db()
    assert armchairs.reserved == 2
    assert len(events("inventory.StockReserved")) == 2


def test_the_last_units_reserved_announce_the_stock_depleted(armchairs: StockItem) -> None:
    reserve(uuid.uuid4(), uuid.uuid4(), 5)
    assert events("inventory.StockDepleted") == [{"sku": "CRUNCHY-ARMCHAIR", "on_hand": 5, "reserved": 5}]


def test_releasing_a_never_reserved_line_leaves_a_tombstone_that_refuses_a_late_reserve(armchairs: StockItem) -> None:
    order, line = uuid.uuid4(), uuid.uuid4()
    release(order, line)
    assert events("inventory.StockReleased")[0]["quantity"] == 0
    tombstone = Reservation.objects.get()
    assert tombstone.is_tombstone
    reserve(order, line, 2)  # the reserve arrives after its release
    armchairs.refresh_from_db()
    assert armchairs.reserved == 0
    assert events("inventory.StockReservationFailed")[0]["code"] == "already_released"


def test_releasing_a_reserved_line_gives_its_units_back_once(armchairs: StockItem) -> None:
    order, line = uuid.uuid4(), uuid.uuid4()
    reserve(order, line, 3)
    release(order, line)
    release(order, line)
    armchairs.refresh_from_db()
    assert armchairs.reserved == 0
    assert [e["quantity"] for e in events("inventory.StockReleased")] == [3, 0]


def test_committing_a_line_takes_its_units_out_of_stock_once(armchairs: StockItem) -> None:
    order, line = uuid.uuid4(), uuid.uuid4()
    reserve(order, line, 3)
    for _ in range(2):
        services.stock_commit_line(order_id=order, line_id=line, sku="CRUNCHY-ARMCHAIR")
    armchairs.refresh_from_db()
    assert (armchairs.on_hand, armchairs.reserved) == (2, 0)
    release(order, line)  # a committed line is never released back
    armchairs.refresh_from_db()
    assert (armchairs.on_hand, armchairs.reserved) == (2, 0)


def test_adjusting_stock_below_what_is_reserved_is_refused(armchairs: StockItem) -> None:
    reserve(uuid.uuid4(), uuid.uuid4(), 3)
    with pytest.raises(services.StockError, match="cannot go below the 3 units reserved"):
        services.stock_adjust(sku="CRUNCHY-ARMCHAIR", on_hand=2, reason="stock count")
    assert services.stock_adjust(sku="CRUNCHY-ARMCHAIR", on_hand=3, reason="stock count").available == 0
    assert events("inventory.StockDepleted")[-1] == {"sku": "CRUNCHY-ARMCHAIR", "on_hand": 3, "reserved": 3}


def test_restocking_an_unknown_sku_is_refused() -> None:
    with pytest.raises(services.UnknownSku, match="Unknown sku GHOST"):
        services.stock_restock(sku="GHOST", quantity=1)


@pytest.mark.django_db(transaction=True)
def test_two_commands_reserving_one_line_at_once_take_its_units_once_and_both_are_answered() -> None:
    """A retried ReserveStock and the first one, handled at the same moment by two workers: the
    second waits for the first's stock row (PostgreSQL) or write lock (SQLite); on PostgreSQL
    it then fails on the (order, line) key and rolls back whole (the consumer retries such a
    fault), and its retry answers the first's reservation."""
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    inventory_db = database_for("inventory")  # the transactions that race are on inventory's database
    order, line = uuid.uuid4(), uuid.uuid4()
    first_reserved, second_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic(using=inventory_db):
                reserve(order, line, 2)
                first_reserved.set()
                second_done.wait(0.5)  # still uncommitted while the second one starts
        finally:
            connections[inventory_db].close()  # this thread's own connection

    def second() -> None:
        first_reserved.wait(5)
        try:
            with transaction.atomic(using=inventory_db):
                reserve(order, line, 2)
        except IntegrityError as exc:
            failures.append(exc)
            reserve(order, line, 2)  # the retry
        finally:
            second_done.set()
            connections[inventory_db].close()  # this thread's own connection

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    item = StockItem.objects.get(sku="CRUNCHY-ARMCHAIR")
    assert (item.on_hand, item.reserved) == (5, 2)
    assert Reservation.objects.get().quantity == 2
    assert len(events("inventory.StockReserved")) == 2
    assert len(failures) == (1 if connections[inventory_db].vendor == "postgresql" else 0)
