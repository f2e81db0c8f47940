"""The product's own cost per handled message, without Celery: one process, no workers.

    python -m bench.in_process [--orders 200] [--prefill ROWS] [--profile FILE]

Creates an SQLite database in a temporary folder (or uses ``DATABASE_URL``; its tables are
migrated and filled), seeds it as the benchmark does, places ``--orders`` orders through
``orders.services.order_place`` (with sending after commit to the Redis of ``REDIS_URL``, which
must be reachable: that database is FLUSHED), then hands every open delivery to
``project.messaging.inbox.consumer.process`` (the code a worker runs for a task: inbox, handler,
delivery mark, sending what it published after commit) until none is left. Prints the CPU time
per placed order and per handled message, by handler. ``--profile`` writes a cProfile of the
handling to FILE. With ``OTEL_TRACES_EXPORTER`` set, everything is traced (the cost of tracing).
``--prefill ROWS`` first fills the outbox, inbox and dead letters with that
many old rows each (bench/prefill.py), to see what large tables cost per message without any
neighbour's noise.

What it leaves out is what the raw Celery chain pays too: taking a message from Redis, the pool's
IPC, acknowledging, task events and logging. So the gap between this and a worker's CPU per
handled message is Celery's share, and this is the product's.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--prefill", type=int, default=0)
    args = parser.parse_args(argv)
    if "REDIS_URL" not in os.environ:
        raise SystemExit("in_process: set REDIS_URL to a Redis database it may flush")
    folder = tempfile.mkdtemp(prefix="bench-in-process-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder}/db.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]

    import django

    from project.observability.tracing import setup_tracing

    # With OTEL_TRACES_EXPORTER set, traced as a worker is (before the first connection, so that
    # its statements are traced too): docs/performance.md, "Tracing".
    setup_tracing("bench")
    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()

    from bench.load import order_lines
    from bench.queries import seed_and_audit
    from orders.services import LineInput, order_place
    from project.messaging.contract.delivery import DeliveryAttempt
    from project.messaging.inbox import consumer
    from project.messaging.outbox.relay import delivery_message, open_deliveries

    config = seed_and_audit()
    if args.prefill:
        from bench.prefill import prefill

        prefill(args.prefill)
    customers = [c["id"] for c in config["customers"]]
    cpu0 = time.process_time()
    for i in range(args.orders):
        lines = [LineInput(l["sku"], l["quantity"], Decimal(l["unit_price"])) for l in order_lines(i, config)]
        order_place(customer_id=customers[i % len(customers)], lines=lines)
    placing = time.process_time() - cpu0

    profile = cProfile.Profile() if args.profile else None
    per_handler: dict[str, list[float]] = defaultdict(list)
    while batch := list(open_deliveries("default").select_related("event").order_by("id")[:500]):
        for delivery in batch:
            attempt = DeliveryAttempt(**delivery_message(delivery))
            started = time.process_time()
            if profile:
                profile.enable()
            result = consumer.process(attempt)
            if profile:
                profile.disable()
            per_handler[delivery.handler].append(time.process_time() - started)
            if result.outcome is not consumer.Outcome.PROCESSED:
                raise SystemExit(f"{delivery.handler} ended {result.outcome.value}: {result.error}")
    broker.flushdb()

    handled = sum(len(v) for v in per_handler.values())
    total = sum(sum(v) for v in per_handler.values())
    print(f"{args.orders} orders: placing {1000 * placing / args.orders:.2f} ms of CPU per order")
    print(
        f"{handled} messages handled: {1000 * total / handled:.3f} ms of CPU per message, "
        f"{1000 * total / args.orders:.1f} ms per order"
    )
    for handler, times in sorted(per_handler.items()):
        times.sort()
        print(
            f"  {handler:55} {len(times):5d}  mean {1000 * sum(times) / len(times):.3f} ms"
            f"  p50 {1000 * times[len(times) // 2]:.3f} ms"
        )
    if profile:
        profile.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
