"""A consumer's database restored from a backup taken a little earlier, with real workers.

Inventory's database goes back to a backup: it forgets the reservations (and the inbox records,
and what it published) of the orders placed after it, which orders had all heard about. Nothing
would send those commands again; `manage.py redeliver --queue inventory --since <backup>` does,
and inventory applies each once. What it publishes while re-applying carries the ids it had the
first time, so orders (downstream) drops every one of them as a duplicate: nothing twice.

The test needs orders and inventory on databases of their own (one database restored would take
orders back with it). In a run that has them (CI's split step, on PostgreSQL) it runs here;
otherwise it runs itself in a subprocess with orders and inventory on SQLite files of their own.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from tests.conftest import WorkerProcess, wait_until
from tests.split_sqlite import pytest_on_sqlite_files

SPLIT = {"orders", "inventory"} <= set(settings.DATABASES)
ARMCHAIR, TABLE = "RESTORED-ARMCHAIR", "RESTORED-TABLE"


if not SPLIT:
    pytestmark = [pytest.mark.flows]

    def test_a_consumer_restored_from_a_backup_gets_what_it_forgot_once_and_downstream_nothing_twice(
        tmp_path: Path,
    ) -> None:
        run = pytest_on_sqlite_files(tmp_path, ["orders", "inventory"], __file__)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "1 passed" in run.stdout

else:
    from inventory.models import Reservation, StockItem
    from inventory.services import stock_item_create
    from orders.models import KnownProduct, Order, OrderLine, OrderSaga, SagaStep
    from orders.services import LineInput, order_place
    from project.messaging.models import Delivery, InboxRecord, OutboxEvent
    from project.messaging.outbox.relay import send_acknowledgements
    from project.operations.reconciliation import consistency_findings
    from tests.brokers import BrokerQueues

    pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True, databases="__all__")]

    class Backup:
        """The inventory database copied aside and put back, with nothing connected to it."""

        def __init__(self, tmp_path: Path) -> None:
            self.alias = "inventory"
            self.vendor = connections[self.alias].vendor
            self.name = connections[self.alias].settings_dict["NAME"]
            self.copy = str(tmp_path / "inventory-backup.sqlite3") if self.vendor == "sqlite" else f"{self.name}_backup"

        def take(self) -> None:
            connections[self.alias].close()
            if self.vendor == "sqlite":
                _sqlite_copy(self.name, self.copy)
            else:
                self._postgresql(f'CREATE DATABASE "{self.copy}" TEMPLATE "{self.name}"')

        def restore(self) -> None:
            connections[self.alias].close()
            if self.vendor == "sqlite":
                _sqlite_copy(self.copy, self.name)
            else:
                self._postgresql(
                    f'DROP DATABASE "{self.name}"',
                    f'CREATE DATABASE "{self.name}" TEMPLATE "{self.copy}"',
                    f'DROP DATABASE "{self.copy}"',
                )

        def _postgresql(self, *statements: str) -> None:
            # CREATE DATABASE ... TEMPLATE needs no session on the template: the inventory worker is
            # stopped, this process's connection closed, and the orders worker runs orders only.
            with connections[self.alias]._nodb_cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)

    def _sqlite_copy(source: str, target: str) -> None:
        # SQLite's online backup API: a consistent copy of the file and its WAL, page by page.
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def drain_acknowledgements() -> None:
        """Until every delivery of both databases is settled: the relay's part, done here (no relay
        loop runs in the tests), the workers applying the acknowledgements."""

        def settled() -> bool:
            for alias in ("orders", "inventory"):
                send_acknowledgements(using=alias)
            return not any(
                Delivery.objects.using(alias)
                .filter(queue__in=["orders", "inventory"])
                .exclude(status=Delivery.Status.PROCESSED)
                .exists()
                for alias in ("orders", "inventory")
            )

        wait_until(settled, timeout=60, what="every delivery between orders and inventory to be acknowledged")

    def place(*lines: tuple[str, int]) -> Order:
        return order_place(
            customer_id=1, lines=[LineInput(sku, quantity, Decimal("10.00")) for sku, quantity in lines]
        ).order

    def wait_confirmed_and_committed(orders: list[Order], on_hand: dict[str, int]) -> None:
        ids = [order.pk for order in orders]
        wait_until(
            lambda: Order.objects.filter(pk__in=ids, status=Order.Status.CONFIRMED).count() == len(ids),
            timeout=60,
            what="the orders to be confirmed",
        )
        wait_until(
            lambda: all(
                StockItem.objects.filter(sku=sku, on_hand=count, reserved=0).exists() for sku, count in on_hand.items()
            ),
            timeout=60,
            what=f"inventory to commit the confirmed lines (on hand {on_hand})",
        )

    def inbox(alias: str) -> set[tuple[str, str]]:
        return {
            (handler, str(event_id))
            for handler, event_id in InboxRecord.objects.using(alias).values_list("handler", "event_id")
        }

    def published_by_inventory() -> set[str]:
        return {
            str(event_id)
            for event_id in OutboxEvent.objects.using("inventory")
            .filter(event_type__in=["inventory.StockReserved", "inventory.StockCommitted"])
            .values_list("event_id", flat=True)
        }

    def saga_history() -> dict[str, Counter]:
        return {
            str(order.pk): Counter(SagaStep.objects.filter(order=order).values_list("action", flat=True))
            for order in Order.objects.all()
        }

    def kinds_of_findings() -> Counter:
        found = consistency_findings(grace=timedelta(0))
        return Counter(finding.kind for findings in found.values() for finding in findings)

    def test_a_consumer_restored_from_a_backup_gets_what_it_forgot_once_and_downstream_nothing_twice(
        worker_factory: Callable[..., WorkerProcess], clean_queues: BrokerQueues, tmp_path: Path
    ) -> None:
        # Each worker runs its own domain only (DOMAINS), as in production: it holds no connection
        # to the other's database (PostgreSQL copies a database only while nobody is connected).
        worker_factory(["orders"], env={"DOMAINS": "orders"})
        inventory = worker_factory(["inventory"], env={"DOMAINS": "inventory"})
        stock_item_create(sku=ARMCHAIR, name="Armchair", on_hand=20)
        stock_item_create(sku=TABLE, name="Table", on_hand=10)
        wait_until(lambda: KnownProduct.objects.count() == 2, what="orders to learn of both products")

        before = [place((ARMCHAIR, 2))]
        wait_confirmed_and_committed(before, {ARMCHAIR: 18, TABLE: 10})
        drain_acknowledgements()

        inventory.stop()
        backup_time = timezone.now()
        backup = Backup(tmp_path)
        backup.take()
        inventory.start()

        after = [place((ARMCHAIR, 3)), place((ARMCHAIR, 1), (TABLE, 4))]
        wait_confirmed_and_committed(before + after, {ARMCHAIR: 14, TABLE: 6})
        drain_acknowledgements()
        orders_inbox, inventory_inbox, inventory_published = (
            inbox("orders"),
            inbox("inventory"),
            published_by_inventory(),
        )
        history = saga_history()
        lines = dict(OrderLine.objects.values_list("pk", "stock"))
        assert len(inventory_inbox) == 2 * 4  # a ReserveStock and a CommitStock per line
        assert kinds_of_findings() == Counter()

        inventory.stop()
        backup.restore()
        # Inventory forgot the later orders: their stock is back on the shelf, their commands unknown.
        assert StockItem.objects.get(sku=ARMCHAIR).on_hand == 18
        assert StockItem.objects.get(sku=TABLE).on_hand == 10
        assert not Reservation.objects.filter(order_id__in=[order.pk for order in after]).exists()
        assert len(inbox("inventory")) == 2
        # Orders heard it all done: nothing would send the commands again. The reconciliation sees it.
        assert (
            not Delivery.objects.using("orders")
            .exclude(status=Delivery.Status.PROCESSED)
            .filter(queue="inventory")
            .exists()
        )
        assert kinds_of_findings() == Counter(confirmed_order_without_committed_stock=3)

        inventory.start()
        out = StringIO()
        call_command("redeliver", "--queue", "inventory", "--since", backup_time.isoformat(), stdout=out)
        assert (
            "orders: redelivered 6 to inventory (6 processed, 0 dead-lettered); relay sent 6 pending" in out.getvalue()
        )

        wait_confirmed_and_committed(before + after, {ARMCHAIR: 14, TABLE: 6})
        wait_until(lambda: inbox("inventory") == inventory_inbox, timeout=60, what="inventory to apply what it forgot")
        drain_acknowledgements()

        # Every command applied exactly once: the inbox has each, the stock moved once for each line.
        assert inbox("inventory") == inventory_inbox
        assert sorted(Reservation.objects.values_list("quantity", "status")) == sorted(
            [(2, "committed"), (3, "committed"), (1, "committed"), (4, "committed")]
        )
        armchair, table = StockItem.objects.get(sku=ARMCHAIR), StockItem.objects.get(sku=TABLE)
        assert (armchair.on_hand, armchair.reserved, table.on_hand, table.reserved) == (14, 0, 6, 0)
        assert armchair.on_hand + 2 + 3 + 1 == 20 and table.on_hand + 4 == 10  # stock conserved
        # What inventory published again kept its ids: orders dropped each as a duplicate.
        assert published_by_inventory() == inventory_published
        assert inbox("orders") == orders_inbox
        assert saga_history() == history
        assert dict(OrderLine.objects.values_list("pk", "stock")) == lines
        assert set(OrderSaga.objects.values_list("state", flat=True)) == {"confirmed"}
        assert kinds_of_findings() == Counter()
