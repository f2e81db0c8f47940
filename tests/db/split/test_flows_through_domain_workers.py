"""The project's flows through one real worker per domain, each run as deployed (DOMAINS=<label>,
its own database only), with every domain but users on a database of its own.

Each test checks what happened, where every row of it landed (and that nothing landed anywhere
else), and that every delivery ends processed in its producer's database: a consumer on another
database acknowledges in its own, the relay (here: the wait loop, as each domain's relay loop
would) sends the acknowledgements to the producer's queue, and the producer's worker marks them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.models import Article
from articles.services import article_create, article_publish
from inventory.models import Reservation, StockItem
from inventory.services import stock_item_create
from notifications.models import Notification, Recipient
from orders.models import KnownProduct, Order, OrderLine, OrderSaga
from orders.services import LineInput, OrderError, order_cancel, order_place, order_sagas_expire_overdue
from project.messaging.models import Acknowledgement, DeadLetter, Delivery, InboxRecord, OutboxEvent
from publishing.models import PublicArticle
from tests.conftest import REPO, WorkerProcess, test_database_env, wait_until
from tests.db.split.conftest import domain_worker_env
from tests.db.split.rows import (
    assert_no_rows,
    assert_rows,
    assert_rows_only_in_their_database,
    every_delivery_processed,
    rows,
    unprocessed_deliveries,
)
from tests.notifications.helpers import register
from users.models import UserProfile

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True, databases="__all__")]


def shelve(sku: str, on_hand: int) -> None:
    """A product in inventory's database, and orders' copy of it (ProductAdded) in orders'."""
    stock_item_create(sku=sku, name=sku.title(), on_hand=on_hand)
    wait_until(lambda: KnownProduct.objects.using("orders").filter(sku=sku).exists(), what=f"orders to learn of {sku}")


def customer(username: str) -> int:
    """A registered user (default database) whom notifications knows (notifications' database)."""
    user_id = register(username).user_id
    wait_until(
        lambda: Recipient.objects.using("notifications").filter(user_id=user_id).exists(),
        what=f"notifications to learn of {username}",
    )
    return user_id


def final_order(order_id: UUID, timeout: float = 60) -> Order:
    return wait_until(
        lambda: Order.objects.using("orders").filter(pk=order_id, status__in=Order.TERMINAL).first(),
        timeout=timeout,
        what="the order to reach a final state",
    )


def stock() -> dict[str, tuple[int, int]]:
    return {s.sku: (s.on_hand, s.reserved) for s in StockItem.objects.using("inventory").all()}


def notification(user_id: int, kind: str) -> Notification:
    return wait_until(
        lambda: Notification.objects.using("notifications").filter(user_id=user_id, kind=kind).first(),
        what=f"the {kind} notification",
    )


# What a worker logs when it strayed out of its own database (or failed otherwise).
STRAYED = ("ImproperlyConfigured", "ConnectionDoesNotExist", "Traceback", "[error")


def settle(worker_logs: Path) -> None:
    """Every delivery processed in its producer's database; no acknowledgement left to send, no
    dead letter; every row in its own database; and no worker (of those the test started, logs
    in ``worker_logs``) failed anything, such as a query on a database it does not have."""
    try:
        wait_until(every_delivery_processed, timeout=60, interval=0.3)
    except pytest.fail.Exception:
        pytest.fail(f"Deliveries still not marked processed in their producer's database: {unprocessed_deliveries()}")
    assert_no_rows(Acknowledgement)  # each sent to its producer, and forgotten
    assert_no_rows(DeadLetter)
    assert_rows_only_in_their_database()
    for log in sorted(worker_logs.glob("worker-*.log")):
        failures = [line for line in log.read_text().splitlines() if any(mark in line for mark in STRAYED)]
        assert not failures, f"{log.name}:\n" + "\n".join(failures[:10])


def restart(worker_factory: Callable[..., WorkerProcess], label: str) -> WorkerProcess:
    return worker_factory([label], env=domain_worker_env(label))


DATABASES_OF_THE_PROCESS = """
import django
django.setup()
from django.conf import settings
from project.messaging.registry.databases import has_database, messaging_databases
print(sorted(alias for alias in settings.DATABASES if has_database(alias)), messaging_databases())
"""


def test_each_domain_worker_holds_its_own_database_only() -> None:
    # The settings a domain worker reads: a process started with the environment worker_factory
    # gives it (the run's, the test databases', then domain_workers' own), as `manage.py shell` would.
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **test_database_env()}
    runs = {
        label: subprocess.Popen(
            [sys.executable, "-c", DATABASES_OF_THE_PROCESS],
            cwd=REPO,
            env={**base, **domain_worker_env(label)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in settings.DOMAIN_APPS
    }
    for label, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        if label == "users":  # the default database (and the test-only "elsewhere", a copy of it)
            assert out.strip() == "['default', 'elsewhere'] ['default']"
        else:  # no default database at all: Django's apps and users are not its business
            assert out.strip() == f"['{label}'] ['{label}']"


def test_an_order_is_confirmed_and_its_customer_told_each_row_in_its_domain_s_database(
    domain_workers: dict[str, WorkerProcess],
    tmp_path: Path,
) -> None:
    alice = customer("alice")
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("SHINY-LAMP", 5)
    order = order_place(
        customer_id=alice,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 3, Decimal("99.00")), LineInput("SHINY-LAMP", 5, Decimal("20.00"))],
    ).order

    assert final_order(order.pk).status == Order.Status.CONFIRMED
    wait_until(
        lambda: stock() == {"CRUNCHY-ARMCHAIR": (7, 0), "SHINY-LAMP": (0, 0)},
        what="the confirmed lines to be committed out of on_hand",
    )
    told = notification(alice, Notification.Kind.ORDER_CONFIRMED)
    wait_until(lambda: Notification.objects.using("notifications").get(pk=told.pk).status == "sent", what="sent")
    settle(tmp_path)
    with pytest.raises(OrderError):  # a confirmed order cannot be cancelled: nothing changes
        order_cancel(order_id=order.pk)

    for label, worker in domain_workers.items():  # what they ran on: their own database's URL only
        given = {key for key, value in worker.env.items() if key.startswith("DATABASE_URL") and value}
        assert (worker.env["DOMAINS"], given) == (
            label,
            {"DATABASE_URL"} if label == "users" else {f"DATABASE_URL_{label.upper()}"},
        )
    assert_rows(get_user_model(), "default", 1)
    assert_rows(UserProfile, "default", 1)
    assert_rows(Recipient, "notifications", 1, user_id=alice)
    assert_rows(Notification, "notifications", 1, user_id=alice, kind="order_confirmed", status="sent")
    assert_rows(Order, "orders", 1, status=Order.Status.CONFIRMED)
    assert_no_rows(OutboxEvent, event_type="orders.OrderCancelled")
    assert_rows(OrderLine, "orders", 2)
    assert_rows(OrderSaga, "orders", 1)
    assert_rows(KnownProduct, "orders", 2)
    assert_rows(StockItem, "inventory", 2)
    assert_rows(Reservation, "inventory", 2, order_id=order.pk, status=Reservation.Status.COMMITTED)
    assert_rows(OutboxEvent, "default", 1, event_type="users.UserRegistered")
    assert_rows(OutboxEvent, "inventory", 2, event_type="inventory.ProductAdded")
    assert_rows(OutboxEvent, "orders", 2, event_type="inventory.ReserveStock")
    assert_rows(OutboxEvent, "inventory", 2, event_type="inventory.StockReserved")
    assert_rows(OutboxEvent, "orders", 1, event_type="orders.OrderConfirmed")
    assert_rows(InboxRecord, "notifications", 1, handler="notifications.add_recipient_when_user_registered")
    assert_rows(InboxRecord, "orders", 2, handler="orders.remember_orderable_product")
    assert_rows(InboxRecord, "inventory", 2, handler="inventory.reserve_order_line")
    assert_rows(InboxRecord, "inventory", 2, handler="inventory.commit_order_line")
    assert_rows(InboxRecord, "orders", 2, handler="orders.advance_saga_on_stock_reserved")
    assert_rows(InboxRecord, "notifications", 1, handler="notifications.tell_customer_order_confirmed")
    # The registration's deliveries (notifications consumes it on another database) were marked
    # by the users worker, in the default database, from notifications' acknowledgements.
    assert rows(Delivery, "default", event__event_type="users.UserRegistered") >= 1


def test_users_registered_reach_notifications_and_an_article_published_reaches_publishing_and_subscribers(
    domain_workers: dict[str, WorkerProcess],
    tmp_path: Path,
) -> None:
    carol = customer("carol")  # registered with the default preferences: no news of articles
    dora = register("dora", new_articles=True).user_id
    known = wait_until(
        lambda: Recipient.objects.using("notifications").filter(user_id=dora, version=1).first(),
        what="dora's registration to reach notifications",
    )
    assert (known.email, known.display_name, known.new_articles) == ("dora@example.com", "Dora", True)
    # The registrations: users' rows and deliveries in the default database (marked processed
    # from notifications' acknowledgements), the recipients in notifications'.
    settle(tmp_path)
    assert_rows(UserProfile, "default", 2)
    assert_rows(Recipient, "notifications", 2)
    assert_no_rows(Notification)  # a registration tells no one anything
    assert_rows(OutboxEvent, "default", 2, event_type="users.UserRegistered")
    registered = Delivery.objects.using("default").filter(event__event_type="users.UserRegistered")
    assert set(registered.values_list("queue", "status")) == {("notifications", Delivery.Status.PROCESSED)}
    assert_rows(InboxRecord, "notifications", 2, handler="notifications.add_recipient_when_user_registered")

    draft = article_create(author_id=dora, author_name="Dora Quill", title="The crunchy armchair", body="It crunches.")
    article_publish(article_id=draft.pk)

    shown = wait_until(
        lambda: PublicArticle.objects.using("publishing").filter(article_id=draft.pk, is_public=True).first(),
        what="the public copy to appear in publishing's database",
    )
    assert (shown.title, shown.revision, shown.author_name) == ("The crunchy armchair", 2, "Dora Quill")
    told = wait_until(
        lambda: Notification.objects.using("notifications").filter(kind="new_article", status="sent").first(),
        what="the subscriber to be told",
    )
    assert told.user_id == dora
    settle(tmp_path)
    assert_no_rows(Notification, user_id=carol)

    assert_rows(Article, "articles", 1, pk=draft.pk, status=Article.Status.PUBLISHED)
    assert_rows(PublicArticle, "publishing", 1)
    assert_rows(Notification, "notifications", 1, kind="new_article")
    assert_rows(OutboxEvent, "articles", 1, event_type="articles.ArticlePublished")
    published = Delivery.objects.using("articles").filter(event__event_type="articles.ArticlePublished")
    assert set(published.values_list("queue", flat=True)) == {"publishing", "notifications"}
    assert_rows(InboxRecord, "publishing", 1, handler="publishing.show_published_article")
    assert_rows(InboxRecord, "notifications", 1, handler="notifications.request_new_article_emails")
    assert_rows(InboxRecord, "notifications", 1, handler="notifications.send_new_article_email")


def test_an_order_with_a_line_out_of_stock_fails_releases_the_others_and_tells_the_customer(
    domain_workers: dict[str, WorkerProcess],
    tmp_path: Path,
) -> None:
    erin = customer("erin")
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("RARE-VASE", 1)
    order = order_place(
        customer_id=erin,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("RARE-VASE", 2, Decimal("500.00"))],
    ).order

    failed = final_order(order.pk)
    assert (failed.status, failed.failure_reason) == (Order.Status.FAILED, "insufficient stock for RARE-VASE")
    told = notification(erin, Notification.Kind.ORDER_FAILED)
    wait_until(lambda: Notification.objects.using("notifications").get(pk=told.pk).status == "sent", what="sent")
    settle(tmp_path)

    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0), "RARE-VASE": (1, 0)}  # the armchairs were released
    assert_rows(Order, "orders", 1, status=Order.Status.FAILED)
    assert_no_rows(Reservation, status__in=[Reservation.Status.RESERVED, Reservation.Status.COMMITTED])
    assert_rows(Notification, "notifications", 1, user_id=erin, kind="order_failed")
    assert_no_rows(Notification, kind="order_confirmed")
    assert_rows(OutboxEvent, "inventory", 1, event_type="inventory.StockReservationFailed")
    assert_rows(OutboxEvent, "orders", 1, event_type="orders.OrderFailed")
    assert_no_rows(OutboxEvent, event_type="orders.OrderConfirmed")
    assert_rows(InboxRecord, "orders", 1, handler="orders.advance_saga_on_stock_refused")
    assert_rows(InboxRecord, "notifications", 1, handler="notifications.tell_customer_order_failed")


def test_a_cancel_while_reserving_releases_everything_once_inventory_is_back(
    domain_workers: dict[str, WorkerProcess], tmp_path: Path, worker_factory: Callable[..., WorkerProcess]
) -> None:
    shelve("CRUNCHY-ARMCHAIR", 10)
    shelve("SHINY-LAMP", 5)
    domain_workers["inventory"].stop()  # ReserveStock waits in inventory's queue
    order = order_place(
        customer_id=7,
        lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00")), LineInput("SHINY-LAMP", 1, Decimal("20.00"))],
    ).order
    order_cancel(order_id=order.pk)
    assert Order.objects.using("orders").get(pk=order.pk).status == Order.Status.RESERVING  # awaiting the releases
    restart(worker_factory, "inventory")

    cancelled = final_order(order.pk)
    assert (cancelled.status, cancelled.failure_reason) == (Order.Status.CANCELLED, "cancelled by the customer")
    settle(tmp_path)

    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0), "SHINY-LAMP": (5, 0)}
    assert_rows(Order, "orders", 1, status=Order.Status.CANCELLED)
    assert_rows(Reservation, "inventory", 2, order_id=order.pk, status=Reservation.Status.RELEASED)
    assert_rows(OutboxEvent, "orders", 2, event_type="inventory.ReleaseStock")
    assert_rows(OutboxEvent, "orders", 1, event_type="orders.OrderCancelled")
    assert_rows(InboxRecord, "inventory", 2, handler="inventory.release_order_line")


def test_a_cancel_after_inventory_reserved_releases_the_reservations_in_inventory_s_database(
    domain_workers: dict[str, WorkerProcess], tmp_path: Path, worker_factory: Callable[..., WorkerProcess]
) -> None:
    shelve("CRUNCHY-ARMCHAIR", 10)
    domain_workers["orders"].stop()  # the replies wait in orders' queue: the order is still reserving
    order = order_place(customer_id=7, lines=[LineInput("CRUNCHY-ARMCHAIR", 4, Decimal("99.00"))]).order
    wait_until(
        lambda: (
            stock() == {"CRUNCHY-ARMCHAIR": (10, 4)}
            and Reservation.objects.using("inventory").filter(order_id=order.pk, status="reserved").exists()
        ),
        what="inventory to reserve the line in its database",
    )
    order_cancel(order_id=order.pk)
    restart(worker_factory, "orders")

    cancelled = final_order(order.pk)
    assert (cancelled.status, cancelled.failure_reason) == (Order.Status.CANCELLED, "cancelled by the customer")
    wait_until(lambda: stock() == {"CRUNCHY-ARMCHAIR": (10, 0)}, what="the reservation to be released")
    settle(tmp_path)

    assert_rows(Reservation, "inventory", 1, order_id=order.pk, status=Reservation.Status.RELEASED)
    assert_rows(OutboxEvent, "inventory", 1, event_type="inventory.StockReserved")
    assert_rows(OutboxEvent, "inventory", 1, event_type="inventory.StockReleased")
    assert_no_rows(OutboxEvent, event_type="orders.OrderConfirmed")
    assert_rows(OutboxEvent, "orders", 1, event_type="orders.OrderCancelled")


def test_a_deadline_passing_fails_the_order_and_late_replies_change_nothing(
    domain_workers: dict[str, WorkerProcess], tmp_path: Path, worker_factory: Callable[..., WorkerProcess]
) -> None:
    frank = customer("frank")  # told of the failure (an unknown customer's would be retried for long)
    shelve("CRUNCHY-ARMCHAIR", 10)
    domain_workers["inventory"].stop()
    order = order_place(customer_id=frank, lines=[LineInput("CRUNCHY-ARMCHAIR", 4, Decimal("99.00"))]).order
    OrderSaga.objects.using("orders").filter(pk=order.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))

    assert order_sagas_expire_overdue() == 1  # what beat's orders.expire_overdue_sagas runs
    assert OrderSaga.objects.using("orders").get(pk=order.pk).state == OrderSaga.State.COMPENSATING
    restart(worker_factory, "inventory")

    failed = final_order(order.pk)
    assert (failed.status, failed.failure_reason) == (
        Order.Status.FAILED,
        f"stock reservation timed out after {settings.ORDERS_RESERVATION_TIMEOUT_SECONDS:g} seconds",
    )
    settle(tmp_path)
    assert order_sagas_expire_overdue() == 0  # a deadline firing after the end does nothing

    assert stock() == {"CRUNCHY-ARMCHAIR": (10, 0)}
    assert_rows(Order, "orders", 1, status=Order.Status.FAILED)
    assert_no_rows(Reservation, status=Reservation.Status.RESERVED)
    assert_rows(OutboxEvent, "orders", 1, event_type="orders.OrderFailed")
    assert_rows(InboxRecord, "inventory", 1, handler="inventory.release_order_line")
    assert_rows(Notification, "notifications", 1, user_id=frank, kind="order_failed")
