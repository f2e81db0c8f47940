"""The story of one correlation id: selector, admin page and staff API."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from orders.models import Order
from orders.services import LineInput, order_place
from project.messaging.models import DeadLetter, OutboxEvent
from project.messaging.operations.selectors import correlation_timeline, merge_timelines
from project.messaging.registry.databases import database_for
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def confirmed_order(bus: TestBus) -> Order:
    """An order confirmed through the bus; its customer is unknown to notifications (a dead letter)."""
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    order = order_place(customer_id=4242, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00"))]).order
    bus.drain()
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    return order


def placed_correlation(order: Order) -> uuid.UUID:
    return (
        OutboxEvent.objects.using(database_for("orders"))
        .get(event_type="orders.OrderPlaced", aggregate_id=str(order.pk))
        .correlation_id
    )


def test_the_timeline_of_a_placement_tells_the_whole_chain_in_time_order(confirmed_order: Order) -> None:
    entries = correlation_timeline(placed_correlation(confirmed_order))
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    events = [e.event_type for e in entries if e.kind == "event"]
    assert events[:2] == ["orders.OrderPlaced", "inventory.ReserveStock"]  # one correlation from the start
    later = {"inventory.StockReserved", "orders.OrderConfirmed", "inventory.CommitStock", "inventory.StockCommitted"}
    assert later <= set(events)
    reserve = next(e for e in entries if e.kind == "event" and e.event_type == "inventory.ReserveStock")
    assert reserve.source == "orders" and reserve.consumers == ("inventory.reserve_order_line",)
    delivered = next(e for e in entries if e.kind == "delivery" and e.event_id == reserve.event_id)
    assert (delivered.source, delivered.status) == ("inventory.reserve_order_line", "processed")
    assert delivered.duration is not None and delivered.duration.total_seconds() >= 0
    assert any(e.kind == "inbox" and e.source == "inventory.reserve_order_line" for e in entries)


def test_a_dead_letter_under_the_correlation_shows_its_error_attempts_and_replays(confirmed_order: Order) -> None:
    letter = DeadLetter.objects.using(database_for("notifications")).get(
        handler="notifications.tell_customer_order_confirmed"
    )
    entries = correlation_timeline(placed_correlation(confirmed_order))
    row = next(e for e in entries if e.kind == "dead_letter")
    assert (row.ref, row.status, row.attempts, row.replays) == (str(letter.pk), "dead", 3, 0)
    assert "Recipient 4242 is not known yet" in row.detail


def test_an_unknown_correlation_id_has_an_empty_timeline(db: None) -> None:
    assert correlation_timeline(uuid.uuid4()) == []


def test_merging_timelines_drops_rows_seen_twice_and_keeps_time_order(confirmed_order: Order) -> None:
    entries = correlation_timeline(placed_correlation(confirmed_order))
    assert merge_timelines(reversed(entries), entries) == entries


def test_the_admin_shows_a_correlation_timeline_linked_from_events_and_dead_letters(
    confirmed_order: Order, admin_client: Client
) -> None:
    correlation_id = placed_correlation(confirmed_order)
    url = f"/admin/messaging/outboxevent/correlations/{correlation_id}/timeline/"
    assert url in admin_client.get(f"/admin/messaging/outboxevent/?db={database_for('orders')}").content.decode()
    assert url in admin_client.get(f"/admin/messaging/deadletter/?db={database_for('notifications')}").content.decode()
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode().replace("<wbr>", "")  # names may wrap after their dots
    assert "orders.OrderPlaced published by orders" in text
    assert "inventory.reserve_order_line" in text
    assert "Open dead letters" in text and "Recipient 4242 is not known yet" in text


def test_the_correlation_timeline_api_is_for_staff_only(confirmed_order: Order) -> None:
    url = f"/api/messaging/correlations/{placed_correlation(confirmed_order)}/timeline/"
    api = APIClient()
    api.force_authenticate(CustomerFactory(username="curious-carol"))
    assert api.get(url).status_code == 403
    olga = StaffFactory(username="operator-olga")
    olga.user_permissions.add(Permission.objects.get(content_type__app_label="messaging", codename="view_deadletter"))
    api.force_authenticate(olga)
    response = api.get(url)
    assert response.status_code == 200
    body = response.json()
    kinds = {entry["kind"] for entry in body["entries"]}
    assert kinds == {"event", "delivery", "inbox", "dead_letter"}
    first = body["entries"][0]
    assert (first["event_type"], first["source"]) == ("orders.OrderPlaced", "orders")
    assert all("duration_ms" in entry for entry in body["entries"])
    assert api.get(f"/api/messaging/correlations/{uuid.uuid4()}/timeline/").status_code == 404
