"""A load generator process: places orders (service layer or HTTP API) or starts baseline chains.

    python -m bench.load --via service|http|baseline --count N [--rate R] [--threads T]
                         [--index-start I --index-step S] --config config.json

It prints ``ready`` once set up, waits for a line on stdin (so that every generator of a run
starts together), then places its share: as fast as its threads can (``--rate 0``) or paced, the
i-th placement at start + i / rate (open loop: a late one goes at once, and its lateness is
reported). The last line it prints is a JSON summary.

Order i (global index) has three lines of well-stocked products; every fifth one (i % 5 == 4)
asks on its last line for a product with nothing on hand, so its saga compensates and fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAIL_EVERY = 5  # order i fails when i % FAIL_EVERY == FAIL_EVERY - 1: 20 %


def is_doomed(index: int) -> bool:
    return index % FAIL_EVERY == FAIL_EVERY - 1


def order_lines(index: int, config: dict[str, Any]) -> list[dict[str, Any]]:
    ok, sold_out = config["ok_skus"], config["sold_out_skus"]
    skus = [ok[(index + k) % len(ok)] for k in range(3)]
    if is_doomed(index):
        skus[-1] = sold_out[index % len(sold_out)]
    return [{"sku": sku, "quantity": 1 + (index + n) % 2, "unit_price": "9.99"} for n, sku in enumerate(skus)]


def service_placer(config: dict[str, Any]) -> Callable[[int], None]:
    import django

    django.setup()
    from decimal import Decimal

    from orders.services import LineInput, order_place

    customers = [c["id"] for c in config["customers"]]

    def place(index: int) -> None:
        lines = [LineInput(l["sku"], l["quantity"], Decimal(l["unit_price"])) for l in order_lines(index, config)]
        order_place(customer_id=customers[index % len(customers)], lines=lines)

    return place


def http_placer(config: dict[str, Any]) -> Callable[[int], None]:
    port = config["web_port"]
    tokens = [c["token"] for c in config["customers"]]
    local = threading.local()

    def place(index: int) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"lines": order_lines(index, config)})
        headers = {"Authorization": f"Token {tokens[index % len(tokens)]}", "Content-Type": "application/json"}
        try:
            conn.request("POST", "/api/orders/", body=body, headers=headers)
            response = conn.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException):
            local.conn = None  # reconnect next time
            conn.close()
            raise
        if response.status != 201:
            raise RuntimeError(f"HTTP {response.status}: {text[:300]!r}")

    return place


def baseline_starter(config: dict[str, Any]) -> Callable[[int], None]:
    from bench.baseline_tasks import start_chain

    def place(index: int) -> None:
        start_chain(index, fail=is_doomed(index))

    return place


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--via", choices=["service", "http", "baseline"], required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="placements per second (0: as fast as possible)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--index-start", type=int, default=0)
    parser.add_argument("--index-step", type=int, default=1)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    place = {"service": service_placer, "http": http_placer, "baseline": baseline_starter}[args.via](config)
    indexes = [args.index_start + n * args.index_step for n in range(args.count)]

    print("ready", flush=True)
    sys.stdin.readline()
    start, cpu_at_start = time.time(), time.process_time()
    lateness: list[float] = []
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def work(thread_no: int) -> None:
        for n in range(thread_no, len(indexes), args.threads):
            if args.rate > 0:
                due = start + n / args.rate
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                late = max(0.0, time.time() - due)
            try:
                place(indexes[n])
            except Exception as exc:  # counted and reported, the run goes on
                with lock:
                    errors.append(repr(exc)[:300])
                continue
            with lock:
                done[0] += 1
                if args.rate > 0:
                    lateness.append(late)
        if args.via == "service":
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.time()
    lateness.sort()
    print(
        json.dumps(
            {
                "placed": done[0],
                "errors": len(errors),
                "first_errors": errors[:5],
                "start": start,
                "end": end,
                # Placing only: the start-up before "go" (imports, django.setup()) is no part of it.
                "cpu_seconds": time.process_time() - cpu_at_start,
                "late_p99_s": lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0,
                "late_max_s": lateness[-1] if lateness else 0.0,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
