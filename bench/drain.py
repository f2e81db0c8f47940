"""One worker draining a filled queue: where a handled message's CPU goes, product against chain.

    python -m bench.drain [--orders 200] [--rounds 3]

Starts one inventory worker of the product and one of the raw Celery chain (``celery worker
--concurrency=1``: a main process that takes messages from Redis, hands them to its pool process
and acknowledges them, and the pool process that runs the task), each alone on the machine, on
a private Redis and a database of its own (PostgreSQL when ``DATABASE_URL`` says so, else SQLite,
as ``bench.run``). Once the worker is ready its queue is filled at once (the outbox rows of
``--orders`` orders placed through ``orders.services.order_place`` beforehand, 3 ReserveStock
commands each, sent by the relay; or as many hops of the chain), and the CPU seconds of the main
and the pool process are measured from then until the queue is empty.

The main process's share is Celery's and kombu's alone, whatever the task; the pool process's is
the task: for the product ``consumer.process`` (inbox, handler, outbox, commit, send) plus
Celery's task tracing, for the chain a ``json.dumps`` of the payload and the publish of the next
hop. Nothing else runs meanwhile, so the figures carry no neighbour's noise (but also none of
the contention of the full benchmark, where every process shares the two cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psutil

from bench import infra


def _cpu(process: psutil.Process) -> dict[str, float]:
    out = {"main": sum(process.cpu_times()[:2])}
    for child in process.children(recursive=True):
        out["pool"] = out.get("pool", 0.0) + sum(child.cpu_times()[:2])
    return out


def _database_cpu(database_url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving the database (the worker's, opened by its
    first task), 0 on SQLite (which runs inside the worker)."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return 0.0
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        pids = infra.backend_pids(conn)
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += sum(psutil.Process(pid).cpu_times()[:2])
    return total


def _drain(
    name: str,
    app: str,
    queue: str,
    fill: Callable[[], int],
    env: dict[str, str],
    logs: Path,
    broker_url: str,
    database_url: str,
) -> dict[str, float]:
    import redis

    client = redis.Redis.from_url(broker_url)
    worker = infra.start_worker(name, app, queue, env, logs)
    try:
        infra.wait_ready([worker])
        time.sleep(1.0)  # its start-up is not counted
        process = psutil.Process(worker.pid)
        before = _cpu(process)
        messages = fill()
        deadline = time.monotonic() + 600
        while client.llen(queue) or client.hlen("unacked"):
            if time.monotonic() > deadline or not worker.alive():
                raise SystemExit(f"drain: {name} did not empty {queue}:\n{worker.tail()}")
            time.sleep(0.05)
        time.sleep(0.3)
        after = _cpu(process)
        after["database"] = _database_cpu(database_url)  # the worker's backend started with the drain
    finally:
        worker.stop()
    per_message = {part: 1000 * (after[part] - before.get(part, 0.0)) / messages for part in after}
    return {"messages": messages, **{f"{part}_ms": round(ms, 3) for part, ms in per_message.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    with infra.own_django("bench-drain-", with_broker=True) as (run_dir, database, broker):
        assert broker is not None
        logs = run_dir / "logs"
        env = dict(os.environ)
        from django.db import connections
        from django.test.utils import override_settings

        from bench import baseline_tasks
        from bench.load import order_lines
        from bench.queries import seed_and_audit
        from orders.services import LineInput, order_place
        from project.messaging.outbox.relay import relay_pending

        config = seed_and_audit()
        import redis

        client = redis.Redis.from_url(broker.url)
        client.flushdb()  # what seeding sent: not this run's work
        customers = [c["id"] for c in config["customers"]]
        placed = 0

        def place_orders() -> None:
            # Written to the outbox only (nothing sent on commit): the relay sends them all at once
            # when the worker is ready, so that the worker drains a full queue alone.
            nonlocal placed
            with override_settings(MESSAGING_SEND_ON_COMMIT=False):
                for _ in range(args.orders):
                    lines = [
                        LineInput(line["sku"], line["quantity"], Decimal(line["unit_price"]))
                        for line in order_lines(placed, config)
                    ]
                    order_place(customer_id=customers[placed % len(customers)], lines=lines)
                    placed += 1

        def send_commands() -> int:
            connections.close_all()  # this process's backend: not the worker's work
            relay_pending()
            connections.close_all()
            return 3 * args.orders  # the ReserveStock commands: one per line

        def publish_hops() -> int:
            count = 3 * args.orders
            for i in range(count):
                baseline_tasks._publish(
                    {
                        "payload": baseline_tasks.sample_payload(str(i), f"SKU-{i % 12}"),
                        "chain_id": str(i),
                        # one hop here; the next goes to a queue nobody consumes in this run
                        "plan": [baseline_tasks.INVENTORY, baseline_tasks.ORDERS],
                        "step": 0,
                        "terminal": 5,
                        "t0": time.time(),
                    }
                )
            return count

        results: dict[str, list[dict[str, float]]] = {"chain": [], "product": []}
        for round_no in range(1, args.rounds + 1):
            chain = _drain(
                "drain-chain",
                "bench.baseline_tasks",
                baseline_tasks.INVENTORY,
                publish_hops,
                env,
                logs,
                broker.url,
                database.url,
            )
            place_orders()
            product = _drain(
                "drain-product", "project", "inventory", send_commands, env, logs, broker.url, database.url
            )
            results["chain"].append(chain)
            results["product"].append(product)
            for label, row in (("chain hop", chain), ("product ReserveStock", product)):
                print(
                    f"round {round_no} {database.vendor}: {label:21} {row['messages']} messages: "
                    f"main {row['main_ms']:.2f} + pool {row['pool_ms']:.2f} + database {row['database_ms']:.2f} = "
                    f"{row['main_ms'] + row['pool_ms'] + row['database_ms']:.2f} ms of CPU per message"
                )
        # This VM's speed drifts from minute to minute: the median round of each part.
        for label, rows in results.items():
            medians = {
                part: statistics.median(row[part] for row in rows) for part in ("main_ms", "pool_ms", "database_ms")
            }
            print(
                f"median {database.vendor}: {label:7} main {medians['main_ms']:.2f} + pool {medians['pool_ms']:.2f} + "
                f"database {medians['database_ms']:.2f} ms of CPU per message"
            )
        print(json.dumps({"database": database.vendor, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
