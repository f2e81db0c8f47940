"""Relay throughput: publish K events to the outbox (nothing sent on commit), then time the relay.

    DJANGO_SETTINGS_MODULE=tests.settings MESSAGING_SEND_ON_COMMIT=0 python -m bench.relay_probe --events K

Uses the test-only ``testapp.Pinged`` event (its subscriber's queue, ``testapp``, has no worker
in the benchmark, so the messages only pile up in Redis). Each ``relay_pending(limit=batch)``
call is one batch: claim (FOR UPDATE SKIP LOCKED on PostgreSQL), build the task messages, send
them over one connection as one Redis pipeline, mark them sent. Afterwards the probe deletes its
outbox rows and its Redis queue. Prints a JSON summary as its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--publish-batch", type=int, default=500)
    args = parser.parse_args(argv)

    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection, transaction

    from project.messaging.models import OutboxEvent
    from project.messaging.outbox.publish import publish
    from project.messaging.outbox.relay import relay_pending
    from tests.testapp.events import Pinged

    if settings.MESSAGING_SEND_ON_COMMIT:
        raise SystemExit("relay_probe: run it with MESSAGING_SEND_ON_COMMIT=0")
    t0 = time.perf_counter()
    for start in range(0, args.events, args.publish_batch):
        with transaction.atomic():
            for n in range(start, min(args.events, start + args.publish_batch)):
                publish(Pinged(key=f"relay-probe-{n % 100}", amount=1 + n % 7))
    published_s = time.perf_counter() - t0

    batch = settings.MESSAGING_RELAY_BATCH_SIZE
    batches: list[float] = []
    sent = 0
    # CPU as well as wall time: on a shared machine the wall time says as much about the others.
    db_cpu = _backend_cpu_reader(connection)
    cpu0, db0 = time.process_time(), db_cpu()
    t0 = time.perf_counter()
    while True:
        b0 = time.perf_counter()
        n = relay_pending(limit=batch)
        if not n:
            break
        batches.append(time.perf_counter() - b0)
        sent += n
    relay_s = time.perf_counter() - t0
    relay_cpu, relay_db_cpu = time.process_time() - cpu0, db_cpu() - db0

    OutboxEvent.objects.filter(event_type=Pinged.event_type).delete()
    if settings.MESSAGING_BROKER == "rabbitmq":
        from kombu import Connection

        with Connection(settings.CELERY_BROKER_URL) as amqp:
            queued = amqp.default_channel.queue_purge("testapp") or 0
    else:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        keys = list(broker.scan_iter(match="testapp*"))
        queued = sum(broker.llen(k) for k in keys if broker.type(k) == b"list")
        if keys:
            broker.delete(*keys)

    batches.sort()
    print(
        json.dumps(
            {
                "events": args.events,
                "sent": sent,
                "queued_in_broker": queued,
                "batch_size": batch,
                "publish_events_per_s": args.events / published_s,
                "relay_seconds": relay_s,
                "relay_events_per_s": sent / relay_s if relay_s else 0.0,
                "cpu_ms_per_1000": 1e6 * (relay_cpu + relay_db_cpu) / sent if sent else None,
                "db_cpu_ms_per_1000": 1e6 * relay_db_cpu / sent if sent else None,
                "batch_ms_p50": 1000 * batches[len(batches) // 2] if batches else None,
                "batch_ms_p99": 1000 * batches[int(0.99 * (len(batches) - 1))] if batches else None,
                "batch_ms_max": 1000 * batches[-1] if batches else None,
            }
        ),
        flush=True,
    )
    return 0


def _backend_cpu_reader(connection: Any) -> Callable[[], float]:
    """CPU seconds of the PostgreSQL backend serving this connection (0 on SQLite, where the
    database's work is done in this process and counted already)."""
    if connection.vendor != "postgresql":
        return lambda: 0.0
    import psutil

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])

    def read() -> float:
        t = backend.cpu_times()
        return t.user + t.system

    return read


if __name__ == "__main__":
    sys.exit(main())
