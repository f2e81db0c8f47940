"""check_consistency: clean after the normal flows, and each planted inconsistency is found."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, router

from articles import services as articles
from articles.models import Article
from inventory.models import Reservation, StockItem
from inventory.services import stock_item_create
from notifications.models import Recipient
from orders.models import Order
from orders.services import LineInput, order_cancel, order_place
from project.messaging.testing import TestBus
from project.operations.reconciliation import consistency_findings
from publishing.models import PublicArticle
from tests.factories.inventory import ReservationFactory, StockItemFactory
from tests.notifications.helpers import register
from users import services as users

pytestmark = pytest.mark.django_db

PRICE = Decimal("25.00")


def check(*args: str) -> str:
    out = StringIO()
    call_command("check_consistency", "--grace-seconds", "0", *args, stdout=out)
    return out.getvalue()


def findings_of_kind(kind: str) -> list:
    results = consistency_findings(grace=timedelta(0))
    return [f for findings in results.values() for f in findings if f.kind == kind]


def only_kinds() -> set[str]:
    """The kinds of finding there are now; the command fails on them."""
    with pytest.raises(CommandError, match="inconsistenc"):
        check()
    return {f.kind for findings in consistency_findings(grace=timedelta(0)).values() for f in findings}


@pytest.fixture
def shop(bus: TestBus) -> dict[str, object]:
    """A day in the shop, all through services and the bus: every domain did its normal work."""
    for sku, on_hand in [("CRUNCHY-ARMCHAIR", 10), ("RARE-VASE", 1), ("SHINY-LAMP", 4)]:
        stock_item_create(sku=sku, name=sku.title(), on_hand=on_hand)
    bus.drain()
    bob = register("bob", new_articles=True)
    ann = register("ann")
    bus.drain()
    happy = order_place(customer_id=bob.user_id, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, PRICE)]).order
    failed = order_place(
        customer_id=ann.user_id, lines=[LineInput("SHINY-LAMP", 1, PRICE), LineInput("RARE-VASE", 5, PRICE)]
    ).order
    cancelled = order_place(customer_id=ann.user_id, lines=[LineInput("SHINY-LAMP", 2, PRICE)]).order
    order_cancel(order_id=cancelled.pk)
    draft = articles.article_create(
        author_id=ann.user_id, author_name="Ann", title="Why the armchair crunches", body="The springs."
    )
    article = articles.article_publish(article_id=draft.pk)
    users.user_preferences_change(user_id=ann.user_id, order_updates=False, email_format="text")
    bus.drain(duplicate=True, order="shuffle", seed=5)
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert (statuses[happy.pk], statuses[failed.pk], statuses[cancelled.pk]) == ("confirmed", "failed", "cancelled")
    return {"happy": happy, "failed": failed, "cancelled": cancelled, "article": article, "bob": bob, "ann": ann}


def test_the_shop_is_consistent_after_normal_flows(shop) -> None:
    assert check().strip() == "consistent"
    report = json.loads(check("--json"))
    assert report["consistent"] is True and report["counts"] == {}


def test_a_confirmed_order_whose_reservation_is_not_committed_is_found(shop) -> None:
    Reservation.objects.filter(order_id=shop["happy"].pk).delete()
    assert only_kinds() == {"confirmed_order_without_committed_stock"}
    [finding] = findings_of_kind("confirmed_order_without_committed_stock")
    assert finding.subject == f"order {shop['happy'].pk}" and "reservation is missing" in finding.problem


def test_stock_still_held_for_a_failed_order_is_found(shop) -> None:
    Reservation.objects.filter(order_id=shop["failed"].pk, sku="SHINY-LAMP").update(status="committed")
    assert only_kinds() == {"reservation_held_for_ended_order"}
    [finding] = findings_of_kind("reservation_held_for_ended_order")
    assert "still committed in inventory although the order is failed" in finding.problem


def test_reserved_stock_that_does_not_add_up_is_found(shop) -> None:
    StockItem.objects.filter(sku="SHINY-LAMP").update(reserved=3)
    assert only_kinds() == {"stock_reserved_mismatch"}
    [finding] = findings_of_kind("stock_reserved_mismatch")
    assert finding.problem == "reserved is 3 but its reserved reservations add up to 0"


def test_on_hand_below_reserved_is_found(shop) -> None:
    # The database refuses this row (a check constraint): plant it with the constraint off, as a
    # restore from an old backup or a hand-made fix without the constraint could, in the
    # database inventory's rows are in.
    connection = connections[router.db_for_write(StockItem)]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        else:
            cursor.execute("ALTER TABLE inventory_stockitem DROP CONSTRAINT stock_reserved_within_on_hand")
    try:
        ReservationFactory(sku="SHINY-LAMP", quantity=3, status="reserved")
        StockItem.objects.filter(sku="SHINY-LAMP").update(on_hand=1, reserved=3)
        assert only_kinds() == {"stock_on_hand_below_reserved"}
    finally:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")


def test_a_public_article_that_authoring_unpublished_is_found(shop) -> None:
    Article.objects.filter(pk=shop["article"].pk).update(status="unpublished")
    assert only_kinds() == {"public_article_not_published"}


def test_a_published_article_missing_publicly_is_found(shop) -> None:
    PublicArticle.objects.filter(pk=shop["article"].pk).delete()
    assert only_kinds() == {"published_article_missing_publicly"}


def test_a_recipient_behind_its_users_profile_is_found(shop) -> None:
    Recipient.objects.filter(user_id=shop["ann"].user_id).update(email_format="html")
    assert only_kinds() == {"recipient_projection_behind"}
    [finding] = findings_of_kind("recipient_projection_behind")
    assert finding.subject == f"user {shop['ann'].user_id}" and "email_format 'html' != 'text'" in finding.problem


def test_a_user_notifications_never_heard_of_is_found(shop) -> None:
    register("cyd")  # UserRegistered still in the outbox: notifications does not know cyd yet
    assert only_kinds() == {"recipient_projection_behind"}
    assert findings_of_kind("recipient_projection_behind")[0].problem == "no Recipient copy in notifications"


def test_a_stocked_sku_orders_does_not_know_is_found(shop) -> None:
    StockItemFactory(sku="GHOST-SOFA")  # written behind inventory's back: no ProductAdded
    assert only_kinds() == {"known_product_missing"}


def test_the_grace_period_ignores_changes_whose_events_may_still_be_on_their_way(shop) -> None:
    StockItemFactory(sku="GHOST-SOFA")
    register("cyd")
    out = StringIO()
    call_command("check_consistency", "--grace-seconds", "60", stdout=out)
    assert out.getvalue().strip() == "consistent"


def test_findings_are_printed_grouped_and_as_json_and_the_command_fails(shop) -> None:
    StockItemFactory(sku="GHOST-SOFA")
    StockItem.objects.filter(sku="SHINY-LAMP").update(reserved=3)
    out = StringIO()
    with pytest.raises(CommandError, match="2 inconsistencies found"):
        call_command("check_consistency", "--grace-seconds", "0", stdout=out)
    text = out.getvalue()
    assert "inventory: reserved stock adds up: 1" in text
    assert "  [known_product_missing] sku GHOST-SOFA: stocked by inventory but unknown to orders" in text
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_consistency", "--grace-seconds", "0", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["consistent"] is False
    assert report["counts"] == {"known_product_missing": 1, "stock_reserved_mismatch": 1}
