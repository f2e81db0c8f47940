"""The baseline: plain Celery tasks chained by hand, no database, no outbox, no inbox.

A separate Celery app with its own queues (``bench_orders``, ``bench_inventory``,
``bench_notifications``) on the same broker, JSON, and the very same worker settings as the
project (acks late, prefetch 1, visibility timeout...: copied from project.settings), so the only
difference from the product is what the product adds.

One "order" of the baseline is a chain with the same hops as one order's saga: every message the
saga handles becomes one task, on the queue of the domain that handles it, each task publishing
the next one (publish -> task -> task ...). ``TERMINAL`` marks the hop at which the product's order
reaches its terminal status; that hop and the last one record their time in a Redis list (one
RPUSH per chain and mark).

    confirmed order (13 hops): 3 x ReserveStock (inventory), 3 x StockReserved (orders; the third
        confirms: terminal), 3 x CommitStock, 3 x StockCommitted, 1 x OrderConfirmed (notifications)
    failed order (11 hops): 3 x ReserveStock, 3 x reply (the refusal starts compensation),
        2 x ReleaseStock, 2 x StockReleased (the second fails the order: terminal), 1 x OrderFailed

Start a worker: ``celery -A bench.baseline_tasks worker -Q bench_inventory --concurrency=1``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis
from celery import Celery

from project import settings as project_settings
from project.messaging.broker import task_queues

INVENTORY, ORDERS, NOTIFICATIONS = "bench_inventory", "bench_orders", "bench_notifications"
QUEUES = (ORDERS, INVENTORY, NOTIFICATIONS)

CONFIRMED_PLAN = [INVENTORY] * 3 + [ORDERS] * 3 + [INVENTORY] * 3 + [ORDERS] * 3 + [NOTIFICATIONS]
CONFIRMED_TERMINAL = 5  # the third StockReserved
FAILED_PLAN = [INVENTORY] * 3 + [ORDERS] * 3 + [INVENTORY] * 2 + [ORDERS] * 2 + [NOTIFICATIONS]
FAILED_TERMINAL = 9  # the second StockReleased

TERMINAL_KEY = "bench:baseline:terminal"
DONE_KEY = "bench:baseline:done"

app = Celery("bench_baseline")
# The project's Celery settings (broker from REDIS_URL, acks late, prefetch 1, JSON, transport
# options, task events...), then our own queues in place of the project's.
app.config_from_object(project_settings, namespace="CELERY")
app.conf.update(
    # Queues of the same kind as the project's: on RabbitMQ durable quorum queues.
    task_queues=task_queues(
        QUEUES,
        broker=project_settings.MESSAGING_BROKER,
        queue_type=project_settings.RABBITMQ_QUEUE_TYPE,
        consumer_timeout=project_settings.RABBITMQ_CONSUMER_TIMEOUT,
    ),
    task_routes={},
    task_default_queue=ORDERS,
    beat_schedule={},
)

_redis: redis.Redis | None = None


def _recorder() -> redis.Redis:
    global _redis
    if _redis is None:
        # The benchmark's Redis (the broker too, unless that is RabbitMQ).
        _redis = redis.Redis.from_url(project_settings.REDIS_URL or app.conf.broker_url)
    return _redis


def sample_payload(chain_id: str, sku: str) -> dict[str, Any]:
    """About the size and shape of the envelope a product message carries."""
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": "inventory.ReserveStock",
        "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "producer": "orders",
        "aggregate_type": "order",
        "aggregate_id": chain_id,
        "aggregate_version": None,
        "correlation_id": event_id,
        "causation_id": None,
        "payload": {"order_id": chain_id, "line_id": str(uuid.uuid4()), "sku": sku, "quantity": 1},
    }


@app.task(name="bench.hop", ignore_result=True)
def hop(payload: dict[str, Any], chain_id: str, plan: list[str], step: int, terminal: int, t0: float) -> None:
    """One hop: read the message as a handler would, then publish the next hop of the chain."""
    json.dumps(payload)  # what the product's consumer would at least do: touch every field
    if step == terminal:
        _recorder().rpush(TERMINAL_KEY, json.dumps([chain_id, t0, time.time()]))
    nxt = step + 1
    if nxt < len(plan):
        _publish({"payload": payload, "chain_id": chain_id, "plan": plan, "step": nxt, "terminal": terminal, "t0": t0})
    else:
        _recorder().rpush(DONE_KEY, json.dumps([chain_id, t0, time.time()]))


def start_chain(index: int, *, fail: bool) -> None:
    """Publish the first hop of one chain (what placing one order is to the product)."""
    chain_id = str(uuid.uuid4())
    plan = FAILED_PLAN if fail else CONFIRMED_PLAN
    _publish(
        {
            "payload": sample_payload(chain_id, f"SKU-{index % 12}"),
            "chain_id": chain_id,
            "plan": plan,
            "step": 0,
            "terminal": FAILED_TERMINAL if fail else CONFIRMED_TERMINAL,
            "t0": time.time(),
        }
    )


def _publish(kwargs: dict[str, Any]) -> None:
    """Publish one hop to its queue, with the options the product's relay uses: the anonymous
    exchange (Celery routes to the queue by name), a short kwargs summary instead of a repr of the
    payload, nothing declared per message. The baseline is as lean as the product's sending."""
    queue = kwargs["plan"][kwargs["step"]]
    hop.apply_async(
        kwargs=kwargs,
        queue=queue,
        exchange="",
        routing_key=queue,  # (Celery fills it in by itself for direct queues only, not RabbitMQ's topic ones)
        argsrepr="()",
        kwargsrepr=f"{{'chain_id': {kwargs['chain_id']!r}, 'step': {kwargs['step']}}}",
        declare=[],
    )
