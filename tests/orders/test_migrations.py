"""0003: the saga's free-text outcome becomes its ending (failed or cancelled), row by row."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from project.messaging.registry.databases import database_for

BEFORE, AFTER = [("orders", "0002_saga_step_operator_action")], [("orders", "0003_saga_ending")]


@pytest.mark.django_db(transaction=True)
def test_existing_sagas_keep_what_their_compensation_ends_in() -> None:
    executor = MigrationExecutor(connections[database_for("orders")])
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Order, OrderSaga = old.get_model("orders", "Order"), old.get_model("orders", "OrderSaga")
    rows = {
        # state, old outcome -> expected ending
        ("compensating", "cancelled"): "cancelled",
        ("compensating", "failed"): "failed",
        ("failed", "failed"): "failed",
        ("cancelled", "cancelled"): "cancelled",
        ("failed", ""): "failed",
        ("confirmed", ""): "",
        ("reserving", ""): "",
    }
    ids = {}
    for state, outcome in rows:
        order = Order.objects.create(id=uuid.uuid4(), customer_id=1, status="reserving")
        OrderSaga.objects.create(
            order=order, state=state, outcome=outcome, deadline_at=timezone.now() + timedelta(minutes=1)
        )
        ids[(state, outcome)] = order.pk
    executor = MigrationExecutor(connections[database_for("orders")])
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("orders", "OrderSaga")
    try:
        for key, ending in rows.items():
            assert new.objects.get(order_id=ids[key]).ending == ending, key
    finally:
        executor = MigrationExecutor(connections[database_for("orders")])
        executor.migrate(executor.loader.graph.leaf_nodes())
