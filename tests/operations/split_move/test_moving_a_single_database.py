"""A single-database deployment, caught with orders at every stage, is moved to a database per
domain, and real per-domain workers then finish the orders with nothing applied twice.

The state before the move is made by the deployment itself: real workers and commands in processes
given DATABASE_URL only (every domain in the default database), on tables created in the default
database as that deployment's migrate made them. This process has the split settings the operator
sets before running the move: each moved domain routed to its own (migrated) database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connections

from inventory.models import Reservation, StockItem
from orders.models import KnownProduct, Order
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.models import Acknowledgement, DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.operations.moving import domains_with_own_database
from project.messaging.outbox.relay import delivery_message, send_messages, sweep
from tests.brokers import BrokerQueues
from tests.conftest import REPO, WorkerProcess, test_database_env, wait_until
from tests.db.roles import grant_tables_to_its_role
from tests.factories.envelopes import raw_envelope

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SKU = "MOVING-SOFA"
RESERVE = "inventory.reserve_order_line"


@pytest.fixture
def moved(transactional_db: None) -> Iterator[list[str]]:
    """The domains given databases of their own, with their tables also in the default database,
    where the single-database deployment had them (dropped again at the end)."""
    labels = domains_with_own_database()
    models = [model for label in labels for model in apps.get_app_config(label).get_models()]
    with connections[DEFAULT_DB_ALIAS].schema_editor() as editor:
        for model in models:
            editor.create_model(model)  # with its many-to-many tables; foreign keys at the end
    grant_tables_to_its_role(DEFAULT_DB_ALIAS)  # the deployment's workers connect as its role
    yield labels
    with connections[DEFAULT_DB_ALIAS].schema_editor() as editor:
        for model in reversed(models):
            editor.delete_model(model)


def single_database(moved: list[str], **extra: str) -> dict[str, str]:
    """The environment of a process of the deployment before the move: DATABASE_URL only."""
    return {**{f"DATABASE_URL_{label.upper()}": "" for label in moved}, **extra}


def run_single(moved: list[str], *args: str, **extra: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **test_database_env(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **({"REDIS_URL": settings.CELERY_BROKER_URL} if settings.MESSAGING_BROKER == "redis" else {}),
        **single_database(moved, **extra),
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.operations.split_move.single_database", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""


def order_status(alias: str, order_id: str) -> str | None:
    return Order.objects.using(alias).filter(pk=order_id).values_list("status", flat=True).first()


def rows(alias: str, label: str) -> dict[str, int]:
    """Every row of the domain in ``alias``: its tables, and the messaging rows that are its own."""
    counts = {
        model._meta.label: model._base_manager.using(alias).count()
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    }
    prefix = f"{label}."
    counts["events"] = OutboxEvent.objects.using(alias).filter(producer=label).count()
    counts["deliveries"] = Delivery.objects.using(alias).filter(event__producer=label).count()
    counts["pending"] = Delivery.objects.using(alias).filter(event__producer=label, status="pending").count()
    counts["inbox"] = InboxRecord.objects.using(alias).filter(handler__startswith=prefix).count()
    counts["dead letters"] = DeadLetter.objects.using(alias).filter(handler__startswith=prefix).count()
    return counts


def move(*args: str) -> str:
    out = StringIO()
    call_command("move_to_split_databases", *args, stdout=out)
    return out.getvalue()


def inbox(alias: str, handler: str) -> int:
    return InboxRecord.objects.using(alias).filter(handler=handler).count()


@pytest.mark.flows
def test_a_single_database_with_orders_at_every_stage_is_moved_and_finished_by_per_domain_workers(
    moved: list[str], worker_factory: Callable[..., WorkerProcess], clean_queues: BrokerQueues
) -> None:
    # --- The deployment on one database: each domain's worker as its compose service runs it.
    orders_worker = worker_factory(["orders"], env=single_database(moved))
    inventory_worker = worker_factory(["inventory"], env=single_database(moved, DOMAINS="inventory"))
    run_single(moved, "stock", SKU, "10")
    wait_until(lambda: KnownProduct.objects.using("default").filter(sku=SKU).exists(), what="orders to learn the sofa")
    confirmed = run_single(moved, "order", SKU, "2")
    failed = run_single(moved, "order", SKU, "50")
    wait_until(lambda: order_status("default", confirmed) == "confirmed", what="the first order confirmed")
    wait_until(lambda: order_status("default", failed) == "failed", what="the second order failed")
    # A command inventory refuses for good: a dead letter of inventory's.
    bad = {"order_id": str(uuid.uuid4()), "line_id": str(uuid.uuid4()), "sku": SKU, "quantity": -2}
    envelope = raw_envelope("inventory.ReserveStock", bad, producer="orders", aggregate_type="reservation")
    send_messages([("inventory", DeliveryAttempt(envelope=envelope, handler=RESERVE).task_kwargs())])
    wait_until(lambda: DeadLetter.objects.using("default").filter(handler=RESERVE).exists(), what="the dead letter")

    # Orders' worker stops: the third order is reserved, and inventory's answer waits on the broker.
    orders_worker.stop()
    reserved = run_single(moved, "order", SKU, "3")
    wait_until(lambda: Reservation.objects.using("default").filter(order_id=reserved).exists(), what="a reservation")
    wait_until(lambda: clean_queues.ready("orders") == 1, what="StockReserved to wait in orders' queue")
    # Inventory's worker stops too; the fourth order's command stays unsent in the outbox.
    inventory_worker.stop()
    pending = run_single(moved, "order", SKU, "1", MESSAGING_SEND_ON_COMMIT="0")
    # And the broker holds a copy of a command inventory applied already (a sweep's re-send).
    applied = Delivery.objects.using("default").get(handler=RESERVE, event__payload__order_id=confirmed)
    send_messages([(applied.queue, delivery_message(applied))])

    assert order_status("default", reserved) == "reserving" and order_status("default", pending) == "reserving"
    before = {label: rows("default", label) for label in ("orders", "inventory")}
    assert Delivery.objects.using("default").get(handler=RESERVE, event__payload__order_id=pending).status == "pending"
    assert before["orders"]["orders.Order"] == 4
    # Inventory applied three ReserveStock and one CommitStock; orders ProductAdded and three answers.
    assert before["inventory"]["inbox"] == 4 and before["inventory"]["dead letters"] == 1
    assert before["orders"]["inbox"] == 4
    # Inventory, deployed alone (DOMAINS), acknowledged those four by rows its relay never sent.
    unsent_acknowledgements = Acknowledgement.objects.using("default").count()
    assert unsent_acknowledgements == 4
    assert clean_queues.ready("inventory") == 1 and clean_queues.ready("orders") == 1

    # --- The move, with every worker stopped.
    first = move()
    for label in ("orders", "inventory"):
        assert rows(label, label) == before[label], label
    assert "orders: orders.Order: 4 in default, copied 4, 0 already there, 4 verified in orders" in first
    assert Acknowledgement.objects.using("inventory").count() == unsent_acknowledgements
    assert Acknowledgement.objects.using("orders").count() == 0
    assert Delivery.objects.using("orders").get(pk=applied.pk).created_at == applied.created_at  # kept as it was

    second = move()
    assert "copied 0 rows in all" in second
    assert "orders: orders.Order: 4 in default, copied 0, 4 already there" in second
    for label in ("orders", "inventory"):
        assert rows(label, label) == before[label], label

    third = move("--delete-source")
    assert "copied 0 rows in all" in third and "orders: orders.Order: deleted 4 from default" in third
    assert Order.objects.using("default").count() == 0 and StockItem.objects.using("default").count() == 0
    assert not OutboxEvent.objects.using("default").filter(producer__in=["orders", "inventory"]).exists()
    assert not Acknowledgement.objects.using("default").exists()

    # --- Each domain's worker and relay on its own database (DOMAINS=<label>) finish the orders.
    worker_factory(["orders"], env={"DOMAINS": "orders"}, wait=False)
    split_inventory = worker_factory(["inventory"], env={"DOMAINS": "inventory"}, wait=False).wait_ready()

    def finished() -> bool:
        for alias in ("orders", "inventory"):
            sweep(using=alias)  # what each domain's relay loop does: pending deliveries, acknowledgements
        return (
            all(order_status("orders", order) == "confirmed" for order in (confirmed, reserved, pending))
            and not (
                Delivery.objects.using("orders").filter(handler__startswith="inventory.").exclude(status="processed")
            ).exists()
        )

    wait_until(finished, timeout=90, interval=0.5, what="the moved orders to be finished on their own databases")
    assert order_status("orders", failed) == "failed"
    wait_until(
        lambda: (
            sweep(using="orders") is not None
            and not Delivery.objects.using("inventory")
            .filter(handler__startswith="orders.")
            .exclude(status="processed")
        ),
        what="inventory to learn orders handled all its events",
    )
    stock = StockItem.objects.using("inventory").get(sku=SKU)
    assert (stock.on_hand, stock.reserved) == (10 - 2 - 3 - 1, 0)
    assert Reservation.objects.using("inventory").count() == 3
    # Once per line and per answer: nothing applied twice, the duplicate on the broker dropped.
    assert inbox("inventory", RESERVE) == 4 and inbox("inventory", "inventory.commit_order_line") == 3
    assert inbox("orders", "orders.advance_saga_on_stock_reserved") == 3
    assert inbox("orders", "orders.advance_saga_on_stock_refused") == 1
    assert inbox("orders", "orders.advance_saga_on_stock_committed") == 3
    assert "'duplicate'" in split_inventory.log()
    assert OutboxEvent.objects.using("orders").filter(event_type="inventory.ReserveStock").count() == 4
    assert DeadLetter.objects.using("inventory").get(handler=RESERVE).status == DeadLetter.Status.DEAD


def test_a_domain_that_ran_on_its_own_database_since_is_not_moved_again_over_its_newer_rows(
    moved: list[str],
) -> None:
    KnownProduct.objects.using("default").create(sku="LAMP", name="Lamp")
    KnownProduct.objects.using("default").create(sku="TABLE", name="Table")
    # Orders has run on its own database since: the lamp was renamed there.
    KnownProduct.objects.using("orders").create(sku="LAMP", name="Reading lamp")

    with pytest.raises(CommandError, match="orders: orders already holds orders.KnownProduct LAMP with other values"):
        move()
    # Nothing of orders was copied (one transaction), nothing deleted from the default database.
    assert list(KnownProduct.objects.using("orders").values_list("sku", "name")) == [("LAMP", "Reading lamp")]
    assert KnownProduct.objects.using("default").count() == 2
