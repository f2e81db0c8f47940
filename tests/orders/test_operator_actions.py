"""Operator actions on a saga (retry the current step, compensate now), the order timeline, saga_status."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import Reservation, StockItem
from orders.models import Order, OrderSaga, SagaStep
from orders.selectors import order_correlation_id, order_timeline
from orders.services import LineInput, OrderError, order_place, order_saga_compensate, order_saga_retry_step
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.models import OutboxEvent
from project.messaging.registry.databases import database_for
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelves() -> None:
    for sku, on_hand in [("CRUNCHY-ARMCHAIR", 10), ("WOBBLY-TABLE", 5)]:
        StockItemFactory(sku=sku, on_hand=on_hand)
        KnownProductFactory(sku=sku)


def place(customer_id: int = 77) -> Order:
    return order_place(
        customer_id=customer_id,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("WOBBLY-TABLE", 1, Decimal("45.00"))],
    ).order


def lose_pending(bus: TestBus) -> list[DeliveryAttempt]:
    """The broker loses what is in flight (taken, never delivered): the saga waits for ever."""
    return bus.take_pending()


def stock() -> dict[str, tuple[int, int]]:
    return {s.sku: (s.on_hand, s.reserved) for s in StockItem.objects.all()}


def test_retrying_the_step_resends_the_reservations_and_the_order_confirms_once_inventory_answers(
    bus: TestBus, shelves
) -> None:
    order = place()
    lost = lose_pending(bus)
    assert {a.handler for a in lost} == {"inventory.reserve_order_line"}
    steps = order_saga_retry_step(order_id=order.pk, reason="the broker lost the reservations", actor="olga")
    assert [s.attempts for s in steps] == [2, 2]
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    assert stock() == {"CRUNCHY-ARMCHAIR": (8, 0), "WOBBLY-TABLE": (4, 0)}
    operator = order.saga_steps.get(action=SagaStep.Action.OPERATOR)
    assert operator.note == "the broker lost the reservations (by olga)"
    assert operator.outcome.startswith("retry: reserve re-sent for 2 line(s)")
    reserve_steps = order.saga_steps.filter(action=SagaStep.Action.RESERVE)
    assert {(s.attempts, s.reply_type) for s in reserve_steps} == {(2, "inventory.StockReserved")}
    # The lost commands turn up after all: inventory answers them again, the saga records stale replies.
    for attempt in lost:
        bus.deliver(attempt)
    bus.drain()
    assert stock() == {"CRUNCHY-ARMCHAIR": (8, 0), "WOBBLY-TABLE": (4, 0)}
    assert Reservation.objects.filter(order_id=order.pk).count() == 2


def test_retrying_while_compensating_resends_the_releases(bus: TestBus, shelves) -> None:
    order = place()
    bus.drain()  # confirmed...
    order = place()
    lose_pending(bus)
    order_saga_compensate(order_id=order.pk, reason="customer phoned to cancel", actor="olga")
    lose_pending(bus)  # ...and the releases are lost too
    [first, second] = order_saga_retry_step(order_id=order.pk, reason="releases lost", actor="olga")
    assert (first.line.sku, second.line.sku) == ("WOBBLY-TABLE", "CRUNCHY-ARMCHAIR")  # reverse line order
    assert {s.command_type for s in (first, second)} == {"inventory.ReleaseStock"}
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (Order.Status.FAILED, "customer phoned to cancel")


def test_compensating_now_releases_what_is_held_and_fails_with_the_operators_reason(bus: TestBus, shelves) -> None:
    order = place()
    pending = lose_pending(bus)
    bus.deliver(pending[0])  # the first line is reserved, the second command is lost
    bus.drain()
    assert stock()["CRUNCHY-ARMCHAIR"] == (10, 2)
    order_saga_compensate(order_id=order.pk, reason="warehouse flooded; giving up on this order", actor="olga")
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (Order.Status.FAILED, "warehouse flooded; giving up on this order")
    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0), "WOBBLY-TABLE": (5, 0)}
    actions = list(order.saga_steps.values_list("action", "note"))
    assert ("operator", "warehouse flooded; giving up on this order (by olga)") in actions
    assert actions[-1] == ("fail", "warehouse flooded; giving up on this order")
    assert OutboxEvent.objects.using(database_for("orders")).filter(event_type="orders.OrderFailed").count() == 1


def test_operator_actions_refuse_what_the_saga_cannot_do(bus: TestBus, shelves) -> None:
    order = place()
    bus.drain()
    with pytest.raises(OrderError, match="only a reserving saga can be compensated"):
        order_saga_compensate(order_id=order.pk, reason="too late", actor="olga")
    with pytest.raises(OrderError, match="awaits no answer from inventory"):
        order_saga_retry_step(order_id=order.pk, reason="why not", actor="olga")
    with pytest.raises(OrderError, match="Say why"):
        order_saga_retry_step(order_id=order.pk, reason="  ", actor="olga")
    assert not order.saga_steps.filter(action=SagaStep.Action.OPERATOR).exists()


def test_commands_sent_by_an_operator_join_the_orders_correlation(bus: TestBus, shelves) -> None:
    order = place()
    lose_pending(bus)
    order_saga_retry_step(order_id=order.pk, reason="lost", actor="olga")
    correlations = set(
        OutboxEvent.objects.using(database_for("orders"))
        .filter(event_type="inventory.ReserveStock")
        .values_list("correlation_id", flat=True)
    )
    assert correlations == {order_correlation_id(order.pk)}


# --- API -------------------------------------------------------------------------------------------


@pytest.fixture
def staff_api() -> APIClient:
    """An operator: staff with orders.change_order (tests/security/test_operator_permissions.py: without it)."""
    olga = StaffFactory(username="operator-olga")
    olga.user_permissions.add(Permission.objects.get(content_type__app_label="orders", codename="change_order"))
    api = APIClient()
    api.force_authenticate(olga)
    return api


def test_staff_retry_and_compensate_through_the_api(bus: TestBus, shelves, staff_api: APIClient) -> None:
    order = place()
    lose_pending(bus)
    retried = staff_api.post(f"/api/orders/{order.pk}/retry-step/", {"reason": "broker lost them"}, format="json")
    assert retried.status_code == 202, retried.content
    assert staff_api.post(f"/api/orders/{order.pk}/compensate/", {}, format="json").status_code == 400
    compensated = staff_api.post(f"/api/orders/{order.pk}/compensate/", {"reason": "no more"}, format="json")
    assert compensated.status_code == 202
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == ("failed", "no more")
    again = staff_api.post(f"/api/orders/{order.pk}/compensate/", {"reason": "again"}, format="json")
    assert again.status_code == 400


def test_customers_cannot_use_the_operator_endpoints(bus: TestBus, shelves) -> None:
    customer = CustomerFactory(username="dora")
    order = place(customer_id=customer.pk)
    api = APIClient()
    api.force_authenticate(customer)
    for action in ("retry-step", "compensate"):
        assert api.post(f"/api/orders/{order.pk}/{action}/", {"reason": "me"}, format="json").status_code == 403
    assert not SagaStep.objects.filter(action=SagaStep.Action.OPERATOR).exists()


def test_the_timeline_endpoint_keeps_its_fields_and_adds_the_events(bus: TestBus, shelves, staff_api) -> None:
    customer = CustomerFactory(username="dora")
    order = place(customer_id=customer.pk)
    bus.drain()
    body = staff_api.get(f"/api/orders/{order.pk}/timeline/").json()
    assert {"order_id", "order_status", "state", "steps", "deadline_at", "events"} <= set(body)
    assert body["order_status"] == "confirmed" and len(body["steps"]) >= 5
    kinds = {e["kind"] for e in body["events"]}
    assert {"event", "delivery", "inbox"} <= kinds
    types = [e["event_type"] for e in body["events"] if e["kind"] == "event"]
    assert types[0] == "orders.OrderPlaced" and "orders.OrderConfirmed" in types
    api = APIClient()
    api.force_authenticate(customer)
    own = api.get(f"/api/orders/{order.pk}/timeline/").json()
    assert {e["kind"] for e in own["events"]} == {"event"}  # no handler names or errors for customers


# --- Admin -------------------------------------------------------------------------------------------


def test_the_order_page_links_its_timeline_which_shows_events_and_saga_steps(
    bus: TestBus, shelves, admin_client: Client
) -> None:
    order = place()
    bus.drain()
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert f"/admin/orders/order/{order.pk}/timeline/" in page.content.decode()
    timeline = admin_client.get(f"/admin/orders/order/{order.pk}/timeline/")
    assert timeline.status_code == 200
    text = timeline.content.decode().replace("<wbr>", "")  # names may wrap after their dots
    assert "orders.OrderPlaced published by orders" in text
    assert "saga reserve line 1 CRUNCHY-ARMCHAIR" in text and "saga confirm" in text
    assert "inventory.reserve_order_line" in text
    entries = order_timeline(order.pk)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert {"event", "delivery", "inbox", "saga_step"} <= {e.kind for e in entries}
    assert admin_client.get("/admin/orders/order/00000000-0000-0000-0000-000000000000/timeline/").status_code == 404


def test_the_admin_compensate_action_asks_for_a_reason_first(bus: TestBus, shelves, admin_client: Client) -> None:
    order = place()
    lose_pending(bus)
    form = {"action": "compensate_now", "_selected_action": [str(order.pk)]}
    confirm = admin_client.post("/admin/orders/order/", form)
    assert confirm.status_code == 200 and "Reason" in confirm.content.decode()
    assert OrderSaga.objects.get(pk=order.pk).state == "reserving"
    admin_client.post("/admin/orders/order/", {**form, "apply": "1", "reason": "stock count in progress"})
    bus.drain()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == ("failed", "stock count in progress")
    assert order.saga_steps.get(action="operator").note == "stock count in progress (by admin)"


def test_the_retry_page_of_one_order_retries_and_returns_to_the_timeline(
    bus: TestBus, shelves, admin_client: Client
) -> None:
    order = place()
    lose_pending(bus)
    url = f"/admin/orders/order/{order.pk}/retry-step/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"apply": "1", "reason": "lost in the broker"})
    assert response.status_code == 302 and response["Location"].endswith(f"/{order.pk}/timeline/")
    bus.drain()
    order.refresh_from_db()
    assert order.status == "confirmed"


# --- saga_status -------------------------------------------------------------------------------------


def run_saga_status(*args: str) -> str:
    out = StringIO()
    call_command("saga_status", *args, stdout=out)
    return out.getvalue()


def test_saga_status_shows_one_saga_in_detail(bus: TestBus, shelves) -> None:
    order = place()
    bus.drain()
    output = run_saga_status(str(order.pk))
    assert f"order {order.pk}" in output and "status confirmed" in output
    assert "1. 2 x CRUNCHY-ARMCHAIR  committed" in output
    assert "reserve line 1  inventory.ReserveStock <- inventory.StockReserved" in output


def test_saga_status_flags_sagas_past_their_deadline_or_stuck(bus: TestBus, shelves) -> None:
    waiting = place()
    lose_pending(bus)
    half_an_hour_ago = timezone.now() - timedelta(minutes=30)
    OrderSaga.objects.filter(pk=waiting.pk).update(
        started_at=half_an_hour_ago, deadline_at=timezone.now() - timedelta(minutes=1)
    )
    SagaStep.objects.filter(order_id=waiting.pk).update(sent_at=half_an_hour_ago)
    done = place()
    bus.drain()
    output = run_saga_status("--stuck-minutes", "10")
    assert "reserving: 1" in output and "confirmed: 1" in output
    assert f"{waiting.pk}  reserving" in output and "OVERDUE STUCK" in output
    assert str(done.pk) not in output
    assert str(done.pk) in run_saga_status("--state", "confirmed")
