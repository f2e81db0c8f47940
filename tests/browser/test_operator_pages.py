"""What an operator sees in the admin, measured in a real browser at 1280-1920 px.

Django's live server, the synchronous test bus (no workers: the pages, not the delivery, are
under test) and Debian's Chromium through Playwright. The data is real: a confirmed order, an
order stuck reserving because inventory's reservations table is missing (its delivery retried,
then dead-lettered, with a real traceback), and payloads that fail validation in two handlers.
Screenshots at 1400 px in var/artifacts/<test name>/.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from inventory.services import stock_item_create
from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox.consumer import Outcome, process
from project.messaging.registry.databases import database_for, messaging_databases
from project.messaging.testing import test_bus
from tests.conftest import REPO
from tests.factories.envelopes import raw_envelope
from tests.messaging_rows import dead_letters, deliveries, inbox_records, outbox_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "olga-keeps-the-shop-running"
WIDTHS = (1280, 1400, 1920)
SAVE_BUTTONS = "input[name=_save], input[name=_continue], input[name=_addanother], input[name=_saveasnew]"

# Measurements done in the page. A text's line boxes: one rectangle per line it occupies.
LINES_OF_TEXT = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
  return tops.size;
}"""
BOX = "el => { const r = el.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }"  # noqa: E501
PAGE_WIDTH = "() => ({page: document.documentElement.scrollWidth, viewport: window.innerWidth})"


@pytest.fixture
def page(chromium: Any) -> Any:
    the_page = chromium.new_page(viewport={"width": 1400, "height": 900})
    the_page.set_default_timeout(15_000)
    return the_page


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = REPO / "var" / "artifacts" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def an_operators_day() -> dict[str, Any]:
    """A confirmed order, an order stuck on a dead letter, and five payload failures in two handlers."""
    get_user_model().objects.create_superuser("olga", "olga@example.com", PASSWORD)
    with test_bus() as bus:
        stock_item_create(sku="CRUNCHY-ARMCHAIR", name="Crunchy armchair", on_hand=50)
        bus.drain()
        assert KnownProduct.objects.filter(sku="CRUNCHY-ARMCHAIR").exists()
        confirmed = order_place(customer_id=4711, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00"))]).order
        bus.drain()
        # Inventory's reservations table is missing (its migration has not run yet).
        connection = connections[database_for("inventory")]  # inventory's database
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE inventory_reservation RENAME TO inventory_reservation_offline")
        try:
            stuck = order_place(
                customer_id=4712,
                lines=[
                    LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("99.00")),
                    LineInput("CRUNCHY-ARMCHAIR", 3, Decimal("99.00")),
                ],
            ).order
            bus.drain()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE inventory_reservation_offline RENAME TO inventory_reservation")
    line = {"line_id": str(uuid.uuid4()), "sku": "CRUNCHY-ARMCHAIR", "quantity": 1}
    for _ in range(2):
        raw = raw_envelope(
            "inventory.StockReserved",
            {"order_id": "order-42", **line},
            producer="inventory",
            aggregate_type="reservation",
        )
        assert process(DeliveryAttempt(envelope=raw, handler="orders.advance_saga_on_stock_reserved")).outcome is (
            Outcome.DEAD_LETTERED
        )
    for _ in range(3):
        raw = raw_envelope(
            "inventory.ReserveStock",
            {"order_id": str(uuid.uuid4()), **line, "quantity": -2},
            producer="orders",
            aggregate_type="reservation",
        )
        assert process(DeliveryAttempt(envelope=raw, handler="inventory.reserve_order_line")).outcome is (
            Outcome.DEAD_LETTERED
        )
    assert Order.objects.get(pk=confirmed.pk).status == Order.Status.CONFIRMED
    assert Order.objects.get(pk=stuck.pk).status == Order.Status.RESERVING
    return {
        "confirmed": confirmed,
        "stuck": stuck,
        "reservation_letter": dead_letters("inventory")
        .filter(event_type="inventory.ReserveStock", envelope__payload__order_id=str(stuck.pk))
        .first(),
    }


def test_the_operators_pages_fit_the_window_and_read_well(site: str, page, artifacts: Path) -> None:
    day = an_operators_day()
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#messaging-health")

    # --- The admin index: the health panel in the sidebar, labels on one line, nothing overlaps.
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.locator("#content-related #messaging-health").count() == 1
        assert page.locator("#content-related #recent-actions-module").count() == 1
        labels = page.locator("#messaging-health dt")
        assert labels.count() >= 5
        for i in range(labels.count()):
            label = labels.nth(i)
            assert label.evaluate(LINES_OF_TEXT) == 1, f"label {label.inner_text()!r} wraps at {width} px"
            assert label.bounding_box()["width"] >= 150
        panel, app_list = page.locator("#messaging-health").evaluate(BOX), page.locator("#content-main").evaluate(BOX)
        recent = page.locator("#recent-actions-module").evaluate(BOX)
        assert not overlap(panel, app_list) and not overlap(panel, recent) and not overlap(app_list, recent)
        assert panel["left"] >= app_list["right"]  # beside the app list, not below it
        assert recent["top"] >= panel["bottom"] and recent["left"] == panel["left"]
        assert page.evaluate(PAGE_WIDTH)["page"] <= width
        if width == 1400:
            page.screenshot(path=str(artifacts / "01-admin-index.png"), full_page=True)
    text = page.inner_text("#messaging-health")
    # The stuck order's two lines, five bad payloads, and the confirmation mail of a customer that
    # notifications never heard of (no user account was registered in this test).
    # One count per database (each domain's, when split): eight in all.
    assert sum(int(n) for n in re.findall(r"Open dead letters\n(\d+)", text)) == 8, text

    # --- An order's timeline: fits the window, dates on one line, the deadline a human date.
    stuck = day["stuck"]
    page.goto(f"{site}/admin/orders/order/{stuck.pk}/timeline/")
    page.wait_for_selector("table.timeline")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        sizes = page.evaluate(PAGE_WIDTH)
        assert sizes["page"] <= sizes["viewport"], f"timeline {sizes['page']} px wide at {width} px"
        times = page.locator("table.timeline td.time")
        assert times.count() >= 5
        for i in range(times.count()):
            assert times.nth(i).evaluate(LINES_OF_TEXT) == 1, f"{times.nth(i).inner_text()!r} wraps at {width} px"
        if width == 1400:
            page.screenshot(path=str(artifacts / "02-order-timeline.png"), full_page=True)
    summary = page.inner_text("#order-summary")
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", summary), summary  # no raw ISO timestamp
    deadline = page.inner_text("#saga-deadline")
    local = timezone.localtime(Order.objects.get(pk=stuck.pk).saga.deadline_at)
    assert f"{local:%H:%M:%S}" in deadline and f"{local.day} {local:%b %Y}" in deadline, deadline
    assert re.search(r"in \d+\s+minutes?", deadline), deadline
    assert page.locator(SAVE_BUTTONS).count() == 0

    # --- Read-only records: no Save button anywhere.
    letter = day["reservation_letter"]
    event = outbox_events("orders").filter(correlation_id=letter.correlation_id).first()  # orders' ReserveStock
    delivery, record = deliveries("orders").first(), inbox_records("inventory").first()
    # ?db=: a messaging row's page reads the database it is in (the admin's default is "default").
    read_only = {
        "dead letter": f"/admin/messaging/deadletter/{letter.pk}/change/?db={letter._state.db}",
        "order": f"/admin/orders/order/{stuck.pk}/change/",
        "outbox event": f"/admin/messaging/outboxevent/{event.pk}/change/?db={event._state.db}",
        "delivery": f"/admin/messaging/delivery/{delivery.pk}/change/?db={delivery._state.db}",
        "inbox record": f"/admin/messaging/inboxrecord/{record.pk}/change/?db={record._state.db}",
    }
    page.set_viewport_size({"width": 1400, "height": 900})
    for what, path in read_only.items():
        page.goto(site + path)
        page.wait_for_selector("#content")
        assert page.locator(SAVE_BUTTONS).count() == 0, f"the {what} page offers to save"
        assert page.locator("#content h1").inner_text().lower() == what, "a record, not a form to change"
        if what == "order":
            assert "in " in page.inner_text(".field-saga_deadline")  # "3 Dec 2026, 06:32:37 UTC (in 1 minute)"
            page.screenshot(path=str(artifacts / "06-order.png"), full_page=True)
        sizes = page.evaluate(PAGE_WIDTH)
        assert sizes["page"] <= sizes["viewport"], f"the {what} page is {sizes['page']} px wide"

    # --- A dead letter: the traceback in a monospace font, the envelope as indented JSON.
    page.goto(f"{site}/admin/messaging/deadletter/{letter.pk}/change/?db={letter._state.db}")
    traceback_block = page.locator("pre.traceback")
    assert "Traceback (most recent call last)" in traceback_block.inner_text()
    assert "monospace" in traceback_block.evaluate("el => getComputedStyle(el).fontFamily")
    envelope_block = page.locator("pre.envelope")
    shown = envelope_block.inner_text()
    assert json.loads(shown) == letter.envelope
    assert '\n  "event_type": "inventory.ReserveStock"' in shown and '\n    "quantity": ' in shown
    assert "monospace" in envelope_block.evaluate("el => getComputedStyle(el).fontFamily")
    page.screenshot(path=str(artifacts / "03-dead-letter.png"), full_page=True)

    # --- The dead-letter list and its groups: every column visible at 1280-1920 px. The list shows
    # one database's letters (the reservation's, when split); the groups merge every database's.
    in_inventorys_database = f"?db={letter._state.db}" if len(messaging_databases()) > 1 else ""
    for path, name in (
        (f"/admin/messaging/deadletter/{in_inventorys_database}", "04-dead-letters"),
        ("/admin/messaging/deadletter/groups/", "05-dead-letter-groups"),
    ):
        page.goto(site + path)
        table = page.locator("#result_list, #dead-letter-groups")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            sizes = page.evaluate(PAGE_WIDTH)
            assert sizes["page"] <= sizes["viewport"], f"{path} is {sizes['page']} px wide at {width} px"
            holder = table.evaluate(
                "el => ({scroll: el.parentElement.scrollWidth, client: el.parentElement.clientWidth})"
            )
            columns = table.evaluate("el => [...el.querySelectorAll('thead th')].map(th => Math.round(th.offsetWidth))")
            assert holder["scroll"] <= holder["client"], f"{path}: columns cut at {width} px ({holder}, {columns})"
            assert table.evaluate(BOX)["right"] <= width
            if width == 1400:
                page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    groups = page.locator("#dead-letter-groups tbody tr")
    assert groups.count() == 4  # the missing table (two lines), the bad order id, the negative quantity, the mail
    buttons = sorted(
        page.locator("#dead-letter-groups input[type=submit]").evaluate_all("els => els.map(e => e.value)")
    )
    assert buttons == ["Replay 1", "Replay 2", "Replay 2", "Replay 3"], buttons

    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert shots == [
        "01-admin-index.png",
        "02-order-timeline.png",
        "03-dead-letter.png",
        "04-dead-letters.png",
        "05-dead-letter-groups.png",
        "06-order.png",
    ]
    assert all((artifacts / name).stat().st_size > 10_000 for name in shots)
