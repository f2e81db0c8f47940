"""The order saga, driven through the synchronous test bus (real inbox code, JSON round trips)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.events import StockReserved
from inventory.models import Reservation, StockItem
from orders.models import Order, OrderLine, OrderSaga, SagaStep
from orders.services import LineInput, OrderError, order_cancel, order_place, order_sagas_expire_overdue
from orders.statemachine import order_status
from project.messaging.models import OutboxEvent
from project.messaging.outbox.publish import publish
from project.messaging.registry.databases import database_for, messaging_databases
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import KnownProductFactory

pytestmark = pytest.mark.django_db

PRICE = Decimal("10.00")


def place(*lines: tuple[str, int]) -> Order:
    return order_place(customer_id=42, lines=[LineInput(sku, qty, PRICE) for sku, qty in lines]).order


def stock() -> dict[str, tuple[int, int]]:
    return {s.sku: (s.on_hand, s.reserved) for s in StockItem.objects.all()}


def published(event_type: str) -> list[dict]:
    # Orders' events and commands are in orders' database, inventory's replies in inventory's.
    return [
        payload
        for alias in messaging_databases()
        for payload in OutboxEvent.objects.using(alias).filter(event_type=event_type).values_list("payload", flat=True)
    ]


@pytest.fixture
def shelves() -> dict[str, tuple[int, int]]:
    for sku, on_hand in [("CRUNCHY-ARMCHAIR", 10), ("WOBBLY-TABLE", 5), ("RARE-VASE", 1)]:
        StockItemFactory(sku=sku, on_hand=on_hand)
        KnownProductFactory(sku=sku)
    # Orders still lists it, but inventory no longer has it: inventory's refusal decides.
    KnownProductFactory(sku="GHOST-SOFA")
    return stock()


def test_a_three_line_order_is_confirmed_and_its_stock_committed(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 3), ("WOBBLY-TABLE", 5), ("RARE-VASE", 1))
    assert len(published("inventory.ReserveStock")) == 3  # one command per line, all at once
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    assert order.saga.state == OrderSaga.State.CONFIRMED
    assert set(order.lines.values_list("stock", flat=True)) == {OrderLine.Stock.COMMITTED}
    assert stock() == {"CRUNCHY-ARMCHAIR": (7, 0), "WOBBLY-TABLE": (0, 0), "RARE-VASE": (0, 0)}
    assert set(Reservation.objects.values_list("status", flat=True)) == {Reservation.Status.COMMITTED}
    assert published("orders.OrderConfirmed")[0]["total"] == "90.00"
    actions = list(order.saga_steps.values_list("action", "reply_type"))
    assert actions.count(("reserve", "inventory.StockReserved")) == 3
    assert actions.count(("commit", "inventory.StockCommitted")) == 3
    assert ("confirm", "") in actions


def test_each_reply_is_recorded_on_the_step_of_the_command_that_caused_it(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 1), ("WOBBLY-TABLE", 1), ("RARE-VASE", 1))
    for command in bus.take_pending():
        bus.deliver(command)
    replies = list(reversed(bus.take_pending()))  # in another order than the commands went out
    with CaptureQueriesContext(connections[database_for("orders")]) as queries:  # the saga's database
        for reply in replies:
            bus.deliver(reply)
    statements = [q["sql"] for q in queries.captured_queries]
    # Found by the command that caused it, in the UPDATE that records it: no step is looked up
    # first; and the saga's service joins the handler's transaction without a savepoint of its
    # own (the one per reply is the handler's transaction, nested in this test's).
    assert not [sql for sql in statements if sql.startswith("SELECT") and "orders_sagastep" in sql]
    assert len([sql for sql in statements if sql.startswith("SAVEPOINT")]) == len(replies) == 3
    bus.drain()
    steps = order.saga_steps.filter(action__in=[SagaStep.Action.RESERVE, SagaStep.Action.COMMIT])
    assert steps.count() == 6
    for step in steps:
        reply = OutboxEvent.objects.using(database_for("inventory")).get(event_id=step.reply_id)
        command = OutboxEvent.objects.using(database_for("orders")).get(event_id=step.command_id)
        assert reply.causation_id == step.command_id
        assert reply.payload["line_id"] == command.payload["line_id"] == str(step.line_id)


def test_a_line_short_of_stock_releases_the_others_in_reverse_and_fails_naming_the_sku(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 2), ("RARE-VASE", 2), ("WOBBLY-TABLE", 1))
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    assert order.failure_reason == "insufficient stock for RARE-VASE"
    assert stock() == shelves  # available stock is back where it started
    lines = {line.sku: line.stock for line in order.lines.all()}
    assert lines == {"CRUNCHY-ARMCHAIR": "released", "RARE-VASE": "refused", "WOBBLY-TABLE": "released"}
    releases = order.saga_steps.filter(action=SagaStep.Action.RELEASE).order_by("id")
    assert [s.line.sku for s in releases] == ["WOBBLY-TABLE", "CRUNCHY-ARMCHAIR"]  # reverse line order
    assert all(s.reply_type == "inventory.StockReleased" for s in releases)
    assert published("orders.OrderFailed") == [
        {"order_id": str(order.pk), "customer_id": 42, "reason": "insufficient stock for RARE-VASE"}
    ]


def test_a_sku_inventory_does_not_know_fails_the_order_with_that_reason(bus: TestBus, shelves) -> None:
    order = place(("GHOST-SOFA", 1))
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (Order.Status.FAILED, "unknown sku GHOST-SOFA")


def test_cancelling_while_reserving_releases_everything_and_cancels(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 2), ("WOBBLY-TABLE", 1))
    order_cancel(order_id=order.pk)  # inventory has not answered yet
    assert OrderSaga.objects.get(pk=order.pk).state == OrderSaga.State.COMPENSATING
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (Order.Status.CANCELLED, "cancelled by the customer")
    assert stock() == shelves
    assert published("orders.OrderCancelled")[0]["reason"] == "cancelled by the customer"
    assert order_cancel(order_id=order.pk).status == Order.Status.CANCELLED  # twice is harmless


def test_a_confirmed_order_cannot_be_cancelled(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 1))
    bus.drain()
    with pytest.raises(OrderError, match="confirmed .* can no longer be cancelled"):
        order_cancel(order_id=order.pk)


def test_a_deadline_passing_while_inventory_is_down_compensates_and_late_replies_change_nothing(
    bus: TestBus, shelves, settings
) -> None:
    settings.ORDERS_RESERVATION_TIMEOUT_SECONDS = 30
    order = place(("CRUNCHY-ARMCHAIR", 2), ("WOBBLY-TABLE", 1))
    assert order_sagas_expire_overdue() == 0  # not due yet
    OrderSaga.objects.filter(pk=order.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert order_sagas_expire_overdue() == 1
    bus.drain()  # inventory comes back: reserves, then releases, in the order they were sent
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (Order.Status.FAILED, "stock reservation timed out after 30 seconds")
    assert stock() == shelves
    assert order_sagas_expire_overdue() == 0  # a deadline after the end does nothing


def test_a_deadline_that_fires_after_confirmation_does_nothing(bus: TestBus, shelves) -> None:
    order = place(("CRUNCHY-ARMCHAIR", 1))
    bus.drain()
    OrderSaga.objects.filter(pk=order.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert order_sagas_expire_overdue() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED


def test_a_stale_reply_after_the_saga_ended_is_recorded_and_changes_nothing(bus: TestBus, shelves) -> None:
    order = place(("RARE-VASE", 5))
    bus.drain()
    line = order.lines.get()
    with transaction.atomic():  # inventory answering again, much later (a new message, not a redelivery)
        publish(StockReserved(order_id=order.pk, line_id=line.pk, sku="RARE-VASE", quantity=5))
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    stale = order.saga_steps.get(action=SagaStep.Action.STALE_REPLY)
    assert stale.reply_type == "inventory.StockReserved" and "nothing changed" in stale.note


SCENARIOS = [
    [("CRUNCHY-ARMCHAIR", 3), ("WOBBLY-TABLE", 2), ("RARE-VASE", 1)],
    [("CRUNCHY-ARMCHAIR", 2), ("RARE-VASE", 2), ("WOBBLY-TABLE", 1)],
    [("GHOST-SOFA", 1), ("WOBBLY-TABLE", 1)],
]


EXPECTED_STATUSES = [
    (Order.Status.CONFIRMED, ""),
    (Order.Status.FAILED, "insufficient stock for RARE-VASE"),
    (Order.Status.FAILED, "unknown sku GHOST-SOFA"),
    (Order.Status.CANCELLED, "cancelled by the customer"),
]
EXPECTED_STOCK = {"CRUNCHY-ARMCHAIR": (7, 0), "WOBBLY-TABLE": (3, 0), "RARE-VASE": (0, 0)}


@pytest.mark.parametrize(
    "delivery",
    [
        {},  # the clean run
        *({"duplicate": True, "order": "shuffle", "seed": seed} for seed in range(1, 6)),
        {"duplicate": True, "order": "reverse"},
    ],
    ids=["clean", *(f"twice-shuffled-{seed}" for seed in range(1, 6)), "twice-reversed"],
)
def test_every_message_delivered_twice_and_out_of_order_reaches_the_same_state_as_a_clean_run(
    bus: TestBus, shelves, delivery: dict
) -> None:
    orders = [place(*lines) for lines in SCENARIOS]
    orders.append(place(("WOBBLY-TABLE", 1)))
    order_cancel(order_id=orders[-1].pk)
    bus.drain(**delivery)
    finals = [Order.objects.values_list("status", "failure_reason").get(pk=o.pk) for o in orders]
    assert finals == EXPECTED_STATUSES
    assert stock() == EXPECTED_STOCK
    assert not Reservation.objects.filter(status=Reservation.Status.RESERVED).exists()


def test_the_order_status_always_follows_its_saga_state(bus: TestBus, shelves) -> None:
    orders = [place(*lines) for lines in SCENARIOS]
    order_cancel(order_id=orders[0].pk)
    delivered = 0
    while pending := bus.take_pending():
        for attempt in pending:  # one message at a time: every order is checked after each
            bus.deliver(attempt)
            delivered += 1
            for status, state in Order.objects.values_list("status", "saga__state"):
                assert status == order_status(state)
    assert delivered > 10
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.CANCELLED, Order.Status.FAILED}
