"""An operator's journey in a real browser: a stuck order, its timeline, a dead letter replayed.

Everything is real: Django's live server, orders and inventory Celery workers on Redis, the test
database, and Chromium driven by Playwright (the system's /usr/bin/chromium; nothing is
downloaded). Screenshots are kept in var/artifacts/operator_journey/.

The failure is an honest one, not a hook in production code: inventory's table of reservations
is missing, as after a deploy that started the new inventory code before its migration ran (here
the table is renamed away and back). Inventory's handler fails on ReserveStock ("no such table"
on SQLite: a transient OperationalError, retried, then dead-lettered; "relation does not exist"
on PostgreSQL: dead-lettered at once). The order stays reserving, waiting for an answer, until
its deadline (long here). The operator sees that on the order's timeline, the cause is fixed
("the migration runs": the table is back), the dead letter is replayed from the admin, inventory
reserves the line and the order ends confirmed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections

from inventory.models import StockItem
from inventory.services import stock_item_create
from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.messaging.models import Delivery
from project.messaging.outbox.relay import send_acknowledgements
from project.messaging.registry.databases import database_for
from tests.conftest import REPO, wait_until
from tests.messaging_rows import dead_letters, deliveries

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = REPO / "var" / "artifacts" / "operator_journey"
PASSWORD = "olga-keeps-the-shop-running"


@pytest.fixture
def browser_page(chromium: Any) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(15_000)
    return page


def shoot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def reservations_table_missing() -> Iterator[None]:
    """Inventory's reservations table is not there (its migration has not run yet), in
    inventory's database."""
    connection = connections[database_for("inventory")]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE inventory_reservation RENAME TO inventory_reservation_offline")
    restored = False

    def restore() -> None:
        nonlocal restored
        if not restored:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE inventory_reservation_offline RENAME TO inventory_reservation")
            restored = True

    try:
        yield restore
    finally:
        restore()


def test_an_operator_finds_a_stuck_order_replays_its_dead_letter_and_sees_it_confirmed(
    site: str, worker_factory, clean_broker, settings, browser_page
) -> None:
    page = browser_page
    settings.ORDERS_RESERVATION_TIMEOUT_SECONDS = 900  # the order waits for the operator, not a deadline
    worker_factory(["orders"], wait=False)
    worker_factory(["inventory"]).wait_ready()
    get_user_model().objects.create_superuser("olga", "olga@example.com", PASSWORD)
    stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=5)
    wait_until(lambda: KnownProduct.objects.filter(sku="CRUNCHY-ARMCHAIR").exists(), what="orders to know the sku")

    with reservations_table_missing() as run_the_migration:
        order = order_place(customer_id=4711, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00"))]).order
        letter = wait_until(
            lambda: dead_letters("inventory").filter(handler="inventory.reserve_order_line").first(),
            timeout=60,
            what="inventory's reservation to be dead-lettered",
        )
        assert Order.objects.get(pk=order.pk).status == Order.Status.RESERVING

        def orders_knows_it_was_dead_lettered() -> bool:
            # Split, inventory acknowledges by a row its relay sends (the sweep, in production).
            send_acknowledgements(using=database_for("inventory"))
            return deliveries("orders").filter(queue="inventory", status=Delivery.Status.DEAD_LETTERED).exists()

        wait_until(orders_knows_it_was_dead_lettered, what="orders to learn the delivery was dead-lettered")

        # The operator logs in and finds the order that does not move.
        page.goto(f"{site}/admin/login/?next=/admin/orders/order/")
        page.fill("#id_username", "olga")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#result_list")
        shoot(page, "01-orders")
        page.click(f"#result_list a:has-text('{order.pk}')")
        page.wait_for_selector("a.timelinelink")
        shoot(page, "02-order")

        # Its timeline: the ReserveStock delivery dead-lettered, the reserve step still awaiting a reply.
        page.click("a.timelinelink")
        page.wait_for_selector("table.timeline")
        text = page.inner_text("#content")
        assert "reserving" in page.inner_text("#order-status")
        assert "Open dead letters" in text
        assert "inventory.reserve_order_line" in text and "dead_lettered" in text
        assert "inventory_reservation" in text  # the error names the missing table
        assert "awaiting reply" in text  # the saga's reserve step
        shoot(page, "03-timeline-with-the-failing-step")

        run_the_migration()

        # The dead letter, then its replay.
        page.click("ul.timeline-alerts a")
        page.wait_for_selector("#replay-dead-letter")
        assert letter.error_type.rsplit(".", 1)[-1] in page.inner_text("#content")
        shoot(page, "04-dead-letter")
        page.click("#replay-dead-letter")
        page.wait_for_selector("ul.messagelist")
        assert "Replay sent for 1 dead letter(s)" in page.inner_text("ul.messagelist")
        shoot(page, "05-replay-sent")

    confirmed = wait_until(
        lambda: Order.objects.filter(pk=order.pk, status=Order.Status.CONFIRMED).first(),
        timeout=60,
        what="the replayed reservation to confirm the order",
    )
    wait_until(lambda: StockItem.objects.get(sku="CRUNCHY-ARMCHAIR").on_hand == 3, what="the stock to be committed")
    page.goto(f"{site}/admin/orders/order/{confirmed.pk}/timeline/")
    assert "confirmed" in page.inner_text("#order-status")
    text = page.inner_text("#content")
    assert "Open dead letters" not in text
    assert "inventory.StockReserved" in text and "orders.OrderConfirmed" in text
    shoot(page, "06-timeline-confirmed")
    letter.refresh_from_db()
    assert (letter.status, letter.replay_count) == ("resolved", 1)
    out = StringIO()
    call_command("check_consistency", "--grace-seconds", "0", stdout=out)  # the domains agree again
    assert out.getvalue().strip() == "consistent"
    assert sorted(p.name for p in ARTIFACTS.glob("*.png"))[:6] == [
        "01-orders.png",
        "02-order.png",
        "03-timeline-with-the-failing-step.png",
        "04-dead-letter.png",
        "05-replay-sent.png",
        "06-timeline-confirmed.png",
    ]
    assert os.path.getsize(ARTIFACTS / "06-timeline-confirmed.png") > 10_000
