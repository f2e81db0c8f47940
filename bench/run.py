"""The benchmark: the whole pipeline against a raw Celery chain, on this machine, in one run.

    python -m bench.run [--quick] [--orders N] [--prefill 1000000 | --skip-prefill] [--out results/]
                        [--profile] [--redis-url redis://127.0.0.1:6379/15] [--keep-db]
                        [--broker amqp://guest:guest@127.0.0.1:5672/]

Database: PostgreSQL when DATABASE_URL names one (the benchmark creates and drops its own
``bench_<pid>`` database on that server), else an SQLite file in the run's folder. Redis: a
private redis-server started for the run (or the database ``--redis-url`` names, which is
FLUSHED at the start and the end). Broker: that Redis, or with --broker amqp://... RabbitMQ, in a
vhost of the run's own (the same Celery settings: quorum queues, confirms). What it measures, in order:

1. baseline: raw Celery chains (bench/baseline_tasks.py) on three single-process workers;
   saturation (chains per second), then paced at 25% of that rate (latency to terminal);
2. the product through the service layer: orders of 3 lines, 20% designed to fail and
   compensate, on the real orders, inventory and notifications workers; saturation, then paced at
   the same rate as the baseline; relay rate and latency from the outbox's own timestamps;
3. the same through the HTTP API (gunicorn);
4. the relay alone: K events published with sending on commit off, then relay_pending() in batches;
5. growth: the messaging tables pre-filled with old rows, then 2 and 4 again;
6. memory: peak RSS of every worker process and of the web process; CPU per order by process.

Queries per handled event are counted while seeding, before the workers start (bench/queries.py).
Results: a table on stdout, and result.json, plot.png, logs/ (and profiles/) in a new folder
under --out (default results/, which git ignores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from bench import infra, report
from bench.infra import Managed, Sampler, log

REPO = infra.REPO
PRODUCT_QUEUES = ["orders", "inventory", "notifications"]
BASELINE_QUEUES = ("bench_orders", "bench_inventory", "bench_notifications")


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        run_dir: Path,
        env: dict[str, str],
        database: infra.Database,
        broker: infra.Broker,
    ) -> None:
        self.args = args
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.env = env
        # No DJANGO_SETTINGS_MODULE: Celery would load Django (its fixup) into the baseline's workers.
        # Never traced (OTEL_TRACES_EXPORTER): the raw chain is the yardstick of a traced product too.
        self.baseline_env = {
            k: v for k, v in env.items() if k not in ("DJANGO_SETTINGS_MODULE", "OTEL_TRACES_EXPORTER")
        }
        self.database = database
        self.broker = broker
        self.config_path = run_dir / "config.json"
        self.config: dict[str, Any] = {}
        self.started: list[Managed] = []
        self.sampler = Sampler(extra_pids=self._extra_pids)
        self.series: dict[str, dict[str, Any]] = {}
        self._pg = None
        self.product_workers: list[Managed] = []

    # --- processes ---------------------------------------------------------------------------

    def _extra_pids(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        if self.broker.pid:
            out["redis"] = [self.broker.pid]
        if self.database.vendor == "postgresql":
            import psycopg

            if self._pg is None:
                self._pg = psycopg.connect(
                    self.database.url.replace("postgres://", "postgresql://", 1), autocommit=True
                )
            out["postgres"] = infra.backend_pids(self._pg, self._domain_database_names())
        return out

    def _domain_database_names(self) -> list[str]:
        return [url.rsplit("/", 1)[1] for url in self.database.domain_urls.values()]

    def start_relays(self) -> list[Managed]:
        """Split databases: a ``relay_outbox --loop`` per domain database the order flow writes
        acknowledgements to (its consumers': orders, inventory, notifications), as each domain's
        deployment runs (Procfile, 1 s interval). They send the acknowledgements back to the
        producers, whose workers mark their deliveries processed; single, the consumer marks the
        delivery in its own transaction and no loop is needed (sending after commit does the relay's
        work). Their CPU counts as the product's."""
        relays = [
            infra.spawn(
                f"relay-{label}",
                [infra.PYTHON, "manage.py", "relay_outbox", "--loop", "--interval", "1", "--database", label],
                self.env,
                self.logs,
            )
            for label in PRODUCT_QUEUES
        ]
        self.started += relays
        infra.wait_settled(relays)
        for relay in relays:
            self.sampler.watch(relay)
        return relays

    def start_workers(self, app: str, queues: list[str], prefix: str) -> list[Managed]:
        env = self.env if app == "project" else self.baseline_env
        workers = [infra.start_worker(f"{prefix}{q}", app, q, env, self.logs) for q in queues]
        self.started += workers
        infra.wait_ready(workers)
        for w in workers:
            self.sampler.watch(w)
        return workers

    def sampler_only(self, workers: list[Managed]) -> None:
        """Sample these workers (and the load generators, Redis, PostgreSQL) only: idle workers of
        the other side stay out of a phase's CPU accounting."""
        for w in self.started:
            if w.name.startswith(("baseline-", "relay-", *PRODUCT_QUEUES)) and w not in workers:
                self.sampler.forget(w)
        for w in workers:
            self.sampler.watch(w)

    def rounds(
        self, key: str, first: tuple[dict[str, Any], dict[str, Any]], baseline_workers: list[Managed]
    ) -> list[dict[str, float]]:
        """Saturation runs of the chain and the product, alternated (``--rounds``): ``first`` is the
        pair measured already, each further round runs the chain, then the product, again. This
        machine's speed drifts by 10-20% over minutes (a shared VM); alternating puts both sides
        under the same drift: the throughput ratio is the median of the rounds' ratios, and the
        chain, which no database table slows down, is the yardstick of the growth measurement."""
        out = [_round(*first)]
        for n in range(2, self.args.rounds + 1):
            self.sampler_only(baseline_workers)
            baseline, *_ = self.baseline_phase(count=self.args.baseline_chains)
            self.sampler_only(self.product_workers)
            service, *_ = self.product_phase("service", count=self.args.orders)
            out.append(_round(baseline, service))
            b, p = baseline["throughput_per_s"], service["throughput_per_s"]
            log(f"{key} round {n}/{self.args.rounds}: baseline {b:.1f}/s, service {p:.1f}/s, ratio {p / b:.2f}")
        return out

    def stop(self, items: list[Managed]) -> None:
        for item in items:
            self.sampler.forget(item)
            item.stop()

    def stop_all(self) -> None:
        for item in reversed(self.started):
            item.stop()

    def load(self, via: str, *, count: int, rate: float, procs: int, threads: int) -> list[dict[str, Any]]:
        """Run ``procs`` load generators (bench/load.py) together; return their summaries."""
        gens = []
        per = [count // procs + (1 if p < count % procs else 0) for p in range(procs)]
        for p in range(procs):
            gens.append(
                subprocess.Popen(  # noqa: S603 (our own argv)
                    [
                        infra.PYTHON,
                        "-m",
                        "bench.load",
                        "--via",
                        via,
                        "--count",
                        str(per[p]),
                        "--rate",
                        str(rate / procs if rate else 0),
                        "--threads",
                        str(threads),
                        "--index-start",
                        str(p),
                        "--index-step",
                        str(procs),
                        "--config",
                        str(self.config_path),
                    ],
                    cwd=REPO,
                    env=self.baseline_env if via == "baseline" else self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(self.logs / f"load-{via}-{p}.log").open("ab"),
                    text=True,
                )
            )
        for g in gens:
            line = g.stdout.readline().strip()
            if line != "ready":
                g.wait()
                raise RuntimeError(f"load generator {via} did not start (see logs/load-{via}-*.log): {line!r}")
        for g in gens:
            g.stdin.write("go\n")
            g.stdin.flush()
        summaries = []
        for g in gens:
            out = g.stdout.read().strip().splitlines()
            g.wait()
            summaries.append(json.loads(out[-1]))
        errors = sum(s["errors"] for s in summaries)
        if errors:
            log(f"{via}: {errors} placements failed, e.g. {summaries[0]['first_errors'][:1]}")
        return summaries

    # --- phases --------------------------------------------------------------------------------

    def _phase_start(self) -> dict[str, Any]:
        return {
            "wall": time.time(),
            "cpu": self.sampler.mark(),
            "machine": infra.machine_cpu(),
            "load": os.getloadavg()[0],
        }

    def _phase_cpu(self, start: dict[str, Any], completed: int, gens: list[dict[str, Any]]) -> dict[str, Any]:
        by_role = self.sampler.cpu_since(start["cpu"])
        # What the load generators spent placing, from "go" to their last placement (their start-up,
        # imports and django.setup(), is not the product's work: it was once counted here, 5-7 ms
        # per order of a 400-order run).
        by_role["load generators"] = sum(g["cpu_seconds"] for g in gens)
        busy0, total0 = start["machine"]
        busy1, total1 = infra.machine_cpu()
        wall = time.time() - start["wall"]
        ours = sum(by_role.values())
        return {
            "seconds": {k: round(v, 3) for k, v in by_role.items()},
            "ms_per_order": {k: 1000 * v / completed for k, v in by_role.items()} if completed else {},
            "ms_per_order_total": 1000 * ours / completed if completed else None,
            "machine_busy_share": (busy1 - busy0) / (total1 - total0) if total1 > total0 else None,
            "bench_cores_used": ours / wall if wall else None,
            "wall_seconds": wall,
            "load_start": start["load"],
            "load_end": os.getloadavg()[0],
        }

    def baseline_phase(self, *, count: int, rate: float = 0.0) -> dict[str, Any]:
        import redis

        from bench.baseline_tasks import DONE_KEY, TERMINAL_KEY

        r = redis.Redis.from_url(self.broker.url)
        r.delete(TERMINAL_KEY, DONE_KEY)
        start = self._phase_start()
        paced = rate > 0
        gens = self.load("baseline", count=count, rate=rate, procs=1 if paced else 2, threads=2 if paced else 1)
        placed = sum(g["placed"] for g in gens)
        deadline = time.monotonic() + 300.0 + 0.5 * placed
        while r.llen(DONE_KEY) < placed:
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline: only {r.llen(DONE_KEY)} of {placed} chains finished")
            time.sleep(0.2)
        terminal = [json.loads(x) for x in r.lrange(TERMINAL_KEY, 0, -1)]
        done = [json.loads(x) for x in r.lrange(DONE_KEY, 0, -1)]
        t_start = min(g["start"] for g in gens)
        ends = [t for _, _, t in terminal]
        out = {
            "placed": placed,
            "placing_seconds": max(g["end"] for g in gens) - t_start,
            "late_p99_s": max(g["late_p99_s"] for g in gens),
            # Every hop of every chain done: the same work per order as the product's drained run.
            "throughput_per_s": placed / (max(t for _, _, t in done) - t_start),
            "all_done_seconds": max(t for _, _, t in done) - t_start,
            "terminal_steady_per_s": report.steady_rate(ends),
            "messages_per_s": None,
            "latency": report.latency_summary([t1 - t0 for _, t0, t1 in terminal]),
            "outcomes": {"chains": len(terminal)},
            "cpu": self._phase_cpu(start, placed, gens),
        }
        hops = sum(13 if i % 5 != 4 else 11 for i in range(placed))
        out["messages_per_s"] = out["throughput_per_s"] * hops / placed
        return out, ends, t_start, [t1 - t0 for _, t0, t1 in terminal]

    def product_phase(self, via: str, *, count: int, rate: float = 0.0) -> dict[str, Any]:
        from django.db import connections
        from django.utils import timezone

        from orders.models import Order
        from project.messaging.models import Delivery
        from project.messaging.registry.databases import messaging_databases

        since = timezone.now()
        # Each producer's deliveries are on its own database when split (ids per database).
        first_delivery = {
            alias: (Delivery.objects.using(alias).order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
            for alias in messaging_databases()
        }
        start = self._phase_start()
        paced = rate > 0
        if via == "service":
            procs, threads = (1, 4) if paced else (2, 1)
        else:
            procs, threads = (1, 4) if paced else (1, 4)
        gens = self.load(via, count=count, rate=rate, procs=procs, threads=threads)
        placed = sum(g["placed"] for g in gens)
        deadline = time.monotonic() + 300.0 + 1.5 * placed  # a loaded shared machine is slow
        mine = Order.objects.filter(created_at__gte=since)
        while (terminal := mine.filter(status__in=Order.TERMINAL).count()) < placed:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{via}: only {terminal} of {placed} orders ended in time")
            time.sleep(0.25)
        t_terminal_all = time.time()
        rows = list(mine.values_list("created_at", "updated_at", "status"))
        # Let the tail drain (commits, notifications; split: the acknowledgements that mark the
        # producers' deliveries) before the next phase; it is still in the CPU.
        # (By primary key: on SQLite no index serves a status filter on a table of a million rows.)
        open_deliveries = [
            Delivery.objects.using(alias).filter(
                pk__gte=first, status__in=[Delivery.Status.PENDING, Delivery.Status.SENT]
            )
            for alias, first in first_delivery.items()
        ]
        while any(qs.exists() for qs in open_deliveries):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{via}: deliveries still open after the orders ended")
            time.sleep(0.25)
        drained = time.time()
        cpu = self._phase_cpu(start, placed, gens)
        deliveries = [
            row
            for alias, first in first_delivery.items()
            for row in Delivery.objects.using(alias)
            .filter(pk__gte=first)
            .values_list("last_sent_at", "event__occurred_at", "processed_at", "status")
        ]
        connections.close_all()
        t_start = min(g["start"] for g in gens)
        ends = [u.timestamp() for _, u, _ in rows]
        latencies = [(u - c).total_seconds() for c, u, _ in rows]
        sent = [s.timestamp() for s, _, _, _ in deliveries if s]
        processed = [p.timestamp() for _, _, p, _ in deliveries if p]
        steady = report.steady_rate(ends)
        out = {
            "placed": placed,
            "placing_seconds": max(g["end"] for g in gens) - t_start,
            "placing_per_s": placed / (max(g["end"] for g in gens) - t_start),
            "late_p99_s": max(g["late_p99_s"] for g in gens),
            "errors": sum(g["errors"] for g in gens),
            # Every delivery of every order processed (commits, notifications: the whole saga).
            "throughput_per_s": placed / (drained - t_start),
            "all_done_seconds": drained - t_start,
            "terminal_steady_per_s": steady,
            "all_terminal_seconds": t_terminal_all - t_start,
            "messages_per_s": report.steady_rate(processed),
            "messages_per_order": len(deliveries) / placed if placed else None,
            "latency": report.latency_summary(latencies),
            "outcomes": dict(Counter(status for _, _, status in rows)),
            "deliveries_not_processed": sum(1 for *_, st in deliveries if st != Delivery.Status.PROCESSED),
            "relay": {
                "sent": len(sent),
                "sent_per_s_steady": report.steady_rate(sent),
                "latency": report.latency_summary([(s - o).total_seconds() for s, o, _, _ in deliveries if s]),
            },
            "cpu": cpu,
        }
        return out, ends, t_start, latencies

    def relay_probe(self, events: int, *, profile: Path | None = None) -> dict[str, Any]:
        # The probe's events are testapp's, on the default database, in either mode.
        env = {
            **{k: v for k, v in self.env.items() if not k.startswith("DATABASE_URL_")},
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "MESSAGING_SEND_ON_COMMIT": "0",
        }
        argv = [infra.PYTHON, "-m", "bench.relay_probe", "--events", str(events)]
        if profile is not None:
            argv = [
                str(Path(infra.PYTHON).parent / "py-spy"),
                "record",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(profile),
                "--",
                *argv,
            ]
        out = subprocess.run(  # noqa: S603
            argv, cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        (self.logs / "relay-probe.log").open("a").write(out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"relay probe failed:\n{out.stderr[-2000:]}")
        # py-spy, when it records the probe, prints its own lines too: the summary is the JSON one.
        return json.loads(next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{")))

    def measure(self, key: str, via: str, *, count: int, rate: float | None = None) -> dict[str, Any]:
        """Saturation with ``count`` orders (or chains), then the paced run at ``rate`` (default: 25%
        of this saturation rate, as for the baseline)."""
        log(f"{key}: saturation, {count} {'chains' if via == 'baseline' else 'orders via ' + via}")
        phase = self.baseline_phase if via == "baseline" else lambda **kw: self.product_phase(via, **kw)
        sat, ends, t0, _ = phase(count=count)
        if rate is None:
            rate = 0.25 * sat["throughput_per_s"]
        log(f"{key}: {sat['throughput_per_s']:.1f}/s; paced at {rate:.1f}/s for {self.args.paced_seconds:g}s")
        paced, _, _, lat = phase(count=max(10, round(rate * self.args.paced_seconds)), rate=rate)
        paced["rate"] = rate
        log(f"{key}: paced p50 {paced['latency']['p50_ms']:.0f} ms, p99 {paced['latency']['p99_ms']:.0f} ms")
        self.series[key] = {"saturation_per_second": report.per_second(ends, t0), "paced_latencies": lat}
        return {"saturation": sat, "paced": paced}

    def profile(self, count: int) -> dict[str, Any]:
        """A separate saturation run with py-spy attached to every worker's pool process and main
        process (which takes the messages from Redis, hands them to the pool, acknowledges them
        and sends the task events)."""
        prof_dir = self.run_dir / "profiles"
        prof_dir.mkdir(exist_ok=True)
        spies = []
        import psutil

        for w in self.product_workers:
            main = psutil.Process(w.pid)
            for suffix, child in [("", c) for c in main.children()] + [("-main", main)]:
                path = prof_dir / f"{w.name}{suffix}.raw"
                spies.append(
                    (
                        w.name,
                        path,
                        subprocess.Popen(  # noqa: S603
                            [
                                str(Path(infra.PYTHON).parent / "py-spy"),
                                "record",
                                "-r",
                                "100",
                                "-f",
                                "raw",
                                "-o",
                                str(path),
                                "--pid",
                                str(child.pid),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=(self.logs / "py-spy.log").open("ab"),
                        ),
                    )
                )
        time.sleep(1.0)
        self.product_phase("service", count=count)
        for _, _, spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes the profile and exits
            spy.wait(timeout=60)
        relay_path = prof_dir / "relay-probe.raw"
        self.relay_probe(self.args.relay_events, profile=relay_path)
        from bench.profile_summary import breakdown, summarise

        out = {
            name: {"breakdown": breakdown(path), **summarise(path, top=30)} for name, path, _ in spies if path.exists()
        }
        if relay_path.exists():
            out["relay-probe"] = summarise(relay_path, under="relay_pending", top=30)
        return out


def machine_info() -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions(database_vendor: str, redis_url: str, broker_url: str) -> dict[str, str]:
    import celery
    import django
    import kombu
    import redis
    from django.db import connection

    out = {"django": django.get_version(), "celery": celery.__version__, "kombu": kombu.__version__}
    out["redis_server"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    if broker_url != redis_url:
        with kombu.Connection(broker_url) as amqp:
            amqp.ensure_connection(max_retries=1)
            version = amqp.connection.server_properties.get("version", b"?")
            out["rabbitmq"] = version.decode() if isinstance(version, bytes) else str(version)
    with connection.cursor() as cursor:
        if database_vendor == "postgresql":
            cursor.execute("SHOW server_version")
            out["postgresql"] = cursor.fetchone()[0]
        else:
            cursor.execute("select sqlite_version()")
            out["sqlite"] = cursor.fetchone()[0]
    connection.close()
    return out


def git_commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a tree exported without .git (git archive) says which commit it is
        return os.environ["BENCH_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)  # noqa: S607
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _growth(before: float | None, after: float | None) -> float | None:
    return (after - before) / before if before and after is not None else None


def _target(name: str, value: float | None, ok: Any, shown: str) -> dict[str, Any]:
    return {"name": name, "met": None if value is None else bool(ok(value)), "value": "-" if value is None else shown}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each met, missed or not measured (None)."""
    p, r, g = result["phases"], result["ratios"], result.get("growth") or {}
    thr, p99 = r.get("throughput"), r.get("p99")
    relay = (p.get("service", {}).get("relay_probe") or {}).get("relay_events_per_s")
    out = [
        _target("product throughput >= 50% of the baseline chain's", thr, lambda v: v >= 0.5, f"{thr or 0:.0%}"),
        _target("product p99 at the paced rate <= 3x the baseline's", p99, lambda v: v <= 3, f"{p99 or 0:.2f}x"),
        _target("relay >= 3,000 events/s in batches", relay, lambda v: v >= 3000, f"{relay or 0:.0f}/s"),
    ]
    if g:
        rows = result["prefilled"]["rows"]
        for key, what in (
            ("throughput", "throughput (wall clock)"),
            ("CPU per order (all but PostgreSQL)", "CPU per order"),
        ):
            v = g.get(key)
            drop = -v if key == "throughput" and v is not None else v
            out.append(
                _target(
                    f"{rows:,}-row tables: {what} worse by less than 10%", drop, lambda x: x < 0.10, f"{v or 0:+.1%}"
                )
            )
        # (Not "relay pipeline p50": in the pipeline last_sent_at is written at the hand-over, in the
        # publishing transaction, and no longer times a send; the probe's batches do.)
        for key in ("relay batch p50", "relay CPU per event"):
            v = g.get(key)
            out.append(
                _target(f"{rows:,}-row tables: {key} grows by less than 10%", v, lambda x: x < 0.10, f"{v or 0:+.1%}")
            )
    else:
        out.append({"name": "pre-filled tables", "met": None, "value": "not measured (--skip-prefill)"})
    workers = {k: v for k, v in result.get("memory_peak_rss", {}).items() if not k.startswith("web")}
    if workers:
        name, rss = max(workers.items(), key=lambda kv: kv[1])
        out.append(
            _target(
                "each worker process < 150 MB RSS",
                rss,
                lambda v: v < 150 * 2**20,
                f"largest {name} {rss / 2**20:.0f} MB",
            )
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts and shorter runs (about 2 minutes)")
    parser.add_argument("--orders", type=int, help="orders per saturation run (default 400; --quick 40)")
    parser.add_argument("--baseline-chains", type=int, help="chains per baseline saturation run (default 3x orders)")
    parser.add_argument("--paced-seconds", type=float, help="length of each paced run (default 20; --quick 5)")
    parser.add_argument("--prefill", type=int, help="old rows per messaging table (default 1,000,000; --quick 50,000)")
    parser.add_argument("--skip-prefill", action="store_true", help="no growth measurement")
    parser.add_argument("--skip-http", action="store_true", help="no HTTP API measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        help="saturation runs of the chain and the product, alternated; the throughput ratio is the median of "
        "the rounds' (default 3; --quick 1)",
    )
    parser.add_argument("--relay-events", type=int, help="events for the relay probe (default 20,000; --quick 3,000)")
    parser.add_argument("--profile", action="store_true", help="also profile the workers and the relay with py-spy")
    parser.add_argument("--redis-url", help="use this Redis database (it is FLUSHED) instead of a private server")
    parser.add_argument(
        "--broker",
        metavar="AMQP_URL",
        help="Celery's broker is this RabbitMQ (amqp://user:pass@host:5672/), in a vhost of the run's own "
        "(created and deleted with rabbitmqctl); Redis then holds only the cache and the baseline's recorder",
    )
    parser.add_argument(
        "--split-databases",
        action="store_true",
        help="a database per domain but users (PostgreSQL: one per domain on the same server; SQLite: a file "
        "per domain), given to every process as DATABASE_URL_<LABEL>, and a relay loop per domain for the "
        "acknowledgements",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark's databases afterwards")
    parser.add_argument("--out", type=Path, default=REPO / "results")
    parser.add_argument(
        "--report-from", type=Path, metavar="RESULT_JSON", help="print the table and redraw the plot of a past run"
    )
    args = parser.parse_args(argv)
    args.orders = args.orders or (40 if args.quick else 400)
    args.baseline_chains = args.baseline_chains or 3 * args.orders
    args.paced_seconds = args.paced_seconds or (5.0 if args.quick else 20.0)
    args.prefill = (
        0
        if args.skip_prefill
        else (args.prefill if args.prefill is not None else (50_000 if args.quick else 1_000_000))
    )
    args.relay_events = args.relay_events or (3_000 if args.quick else 20_000)
    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (or SIGINT in the background) ends the run through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.report_from:
        past = json.loads(args.report_from.read_text())
        finish(past, args.report_from.resolve().parent)
        print("\n" + report.markdown(past))
        return 0
    began = time.time()
    base_url = os.environ.get("DATABASE_URL")
    vendor = "postgresql" if base_url and base_url.startswith("postgres") else "sqlite"
    mode = "split" if args.split_databases else "single"
    run_dir = (args.out / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{vendor}{'-split' if mode == 'split' else ''}").resolve()
    run_dir.mkdir(parents=True)
    machine = machine_info()
    log(f"results in {run_dir}; {mode} database(s); load {machine['load_at_start']}")
    database = infra.create_database(run_dir, base_url, split=args.split_databases)
    broker = infra.start_broker(run_dir, args.redis_url, args.broker)
    env = infra.bench_env(database.url, broker.url, broker.broker_url, **database.domain_env())
    for inherited in [k for k in os.environ if k.startswith("DATABASE_URL_")]:
        del os.environ[inherited]
    os.environ.update(env)
    bench = Bench(args, run_dir, env, database, broker)
    result: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine,
        "commit": git_commit(),
        "database": {"vendor": vendor, "mode": mode, "aliases": database.aliases},
        "args": vars(args),
    }
    try:
        for alias in database.aliases:
            log(f"migrating {alias}")
            subprocess.run(  # noqa: S603
                [infra.PYTHON, "manage.py", "migrate", "--noinput", "-v0", "--database", alias],
                cwd=REPO,
                env=env,
                check=True,
            )
        import django

        django.setup()
        check_split(database)
        result["versions"] = versions(vendor, broker.url, broker.broker_url)
        result["broker"] = {"kind": "rabbitmq" if broker.celery_url else "redis"}
        log("seeding and counting queries per handler")
        from bench.queries import seed_and_audit

        seed = seed_and_audit()
        if vendor == "postgresql":
            # A database in service has planner statistics; a freshly migrated and seeded one has
            # none until autovacuum's ANALYZE gets to it, at its own time, during a measurement
            # (measured: the first saturation run then needed 10% more CPU per order).
            from django.db import connections

            for alias in database.aliases:
                with connections[alias].cursor() as cursor:
                    cursor.execute("ANALYZE")
        result["queries"] = {"handlers": seed.pop("queries"), "entry_services": seed.pop("entry_services")}
        bench.config = seed
        bench.config_path.write_text(json.dumps(seed))
        bench.sampler.start()

        phases: dict[str, Any] = {}
        baseline_workers = bench.start_workers("bench.baseline_tasks", list(BASELINE_QUEUES), "baseline-")
        phases["baseline"] = bench.measure("baseline", "baseline", count=args.baseline_chains)
        rate = phases["baseline"]["paced"]["rate"]
        result["paced_rate"] = rate

        bench.sampler_only([])  # the baseline's workers stay up, idle, for the next rounds
        bench.product_workers = bench.start_workers("project", PRODUCT_QUEUES, "")
        if database.mode == "split":
            bench.product_workers += bench.start_relays()
        phases["service"] = bench.measure("service", "service", count=args.orders, rate=rate)
        result["rounds"] = bench.rounds(
            "service", (phases["baseline"]["saturation"], phases["service"]["saturation"]), baseline_workers
        )
        if not args.skip_http:
            web, port = infra.start_web(env, bench.logs, workers=2, threads=2)
            bench.started.append(web)
            bench.config["web_port"] = port
            bench.config_path.write_text(json.dumps(bench.config))
            infra.wait_http(port, bench.config["customers"][0]["token"], web)
            bench.sampler.watch(web)
            phases["http"] = bench.measure("http", "http", count=args.orders, rate=rate)
        log(f"relay probe: {args.relay_events} events")
        phases["service"]["relay_probe"] = bench.relay_probe(args.relay_events)
        log(f"relay probe: {phases['service']['relay_probe']['relay_events_per_s']:.0f} events/s")

        if args.prefill:
            from bench.prefill import prefill

            # Split: the messaging tables of each database the order flow writes to, as its domains'
            # months of traffic would leave them (the default then holds only users').
            filled = PRODUCT_QUEUES if database.mode == "split" else ["default"]
            log(f"pre-filling the messaging tables of {', '.join(filled)} with {args.prefill:,} old rows each")
            t0 = time.time()
            timings = {alias: prefill(args.prefill, using=alias) for alias in filled}
            timings = timings["default"] if database.mode == "single" else timings
            log(f"pre-filled in {time.time() - t0:.0f}s")
            # The chain right before, as the yardstick of this round (see Bench.rounds).
            bench.sampler_only(baseline_workers)
            yardstick, *_ = bench.baseline_phase(count=args.baseline_chains)
            bench.sampler_only(bench.product_workers)
            phases["prefilled"] = bench.measure("prefilled", "service", count=args.orders, rate=rate)
            result["prefilled_rounds"] = bench.rounds(
                "prefilled", (yardstick, phases["prefilled"]["saturation"]), baseline_workers
            )
            phases["prefilled"]["relay_probe"] = bench.relay_probe(args.relay_events)
            result["prefilled"] = {"rows": args.prefill, "seconds": timings}

        if args.profile:
            log("profiling a saturation run and the relay with py-spy")
            result["profile"] = bench.profile(min(args.orders, 150))
        result["phases"] = phases
    except BaseException:
        # Keep what was measured: a partial result.json, the logs, the database (for a post-mortem).
        result["phases"] = locals().get("phases", {})
        result["series"] = bench.series
        result["error"] = traceback.format_exc()
        result["memory_peak_rss"] = bench.sampler.peaks
        report.write_json(result, run_dir / "result.json")
        args.keep_db = True
        log(f"failed; partial results in {run_dir / 'result.json'}, database kept: {database.url}")
        raise
    finally:
        bench.sampler.stop()
        bench.stop_all()
        broker.stop()
        if not args.keep_db:
            database.drop()

    result["memory_peak_rss"] = bench.sampler.peaks
    result["machine"]["load_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result["duration_seconds"] = time.time() - began
    result["series"] = bench.series
    finish(result, run_dir)
    print(f"(run took {result['duration_seconds']:.0f}s)")
    return 0


def check_split(database: infra.Database) -> None:
    """The databases this Django sees are the run's: each split domain on its own alias, nothing
    else on one (a domain added to the project but not to SPLIT_DOMAINS would share the default)."""
    from django.conf import settings

    from project.messaging.registry.databases import database_for

    expected = [d for d in settings.DOMAIN_APPS if d not in settings.DOMAINS_IN_DEFAULT_DATABASE]
    if database.mode == "split" and sorted(expected) != sorted(infra.SPLIT_DOMAINS):
        raise SystemExit(f"bench: infra.SPLIT_DOMAINS is {infra.SPLIT_DOMAINS}, the settings' domains {expected}")
    placed = {app: database_for(app) for app in settings.DOMAIN_APPS}
    wanted = {app: app if app in database.domain_urls else "default" for app in settings.DOMAIN_APPS}
    if placed != wanted:
        raise SystemExit(f"bench: the domains' databases are {placed}, expected {wanted}")


def _round(baseline: dict[str, Any], service: dict[str, Any]) -> dict[str, float]:
    """One round: the chain's and the product's saturation throughput and CPU per order."""
    b, p = baseline["throughput_per_s"], service["throughput_per_s"]
    return {
        "baseline": b,
        "service": p,
        "ratio": p / b,
        "baseline_cpu_ms_per_order": baseline["cpu"]["ms_per_order_total"],
        "service_cpu_ms_per_order": _python_cpu({"saturation": service}),
    }


def _python_cpu(phase: dict[str, Any]) -> float | None:
    """CPU ms per order of the benchmark's own processes but PostgreSQL (whose backends are only
    partly sampled): workers, web, load generators, Redis."""
    per = phase["saturation"]["cpu"]["ms_per_order"]
    return sum(v for k, v in per.items() if k != "postgres") if per else None


def finish(result: dict[str, Any], run_dir: Path) -> None:
    """Ratios, growth and targets from the phases measured; then result.json, plot.png, the table."""
    phases = result["phases"]
    sat = {k: phases[k]["saturation"]["throughput_per_s"] for k in phases}
    p99 = {k: phases[k]["paced"]["latency"]["p99_ms"] for k in phases}
    rounds = result.get("rounds") or []
    result["ratios"] = {
        # The median of the alternated rounds' ratios (the first round alone with --rounds 1).
        "throughput": statistics.median(r["ratio"] for r in rounds)
        if rounds
        else _ratio(sat.get("service"), sat.get("baseline")),
        "throughput_http": _ratio(sat.get("http"), sat.get("baseline")),
        "p99": _ratio(p99.get("service"), p99.get("baseline")),
        "p99_http": _ratio(p99.get("http"), p99.get("baseline")),
        "cpu_per_order": _ratio(
            phases.get("service", {}).get("saturation", {}).get("cpu", {}).get("ms_per_order_total"),
            phases.get("baseline", {}).get("saturation", {}).get("cpu", {}).get("ms_per_order_total"),
        ),
    }
    if "prefilled" in phases and "service" in phases:
        before, after = phases["service"], phases["prefilled"]
        rb, ra = before.get("relay_probe") or {}, after.get("relay_probe") or {}
        growth = {
            "throughput": _growth(before["saturation"]["throughput_per_s"], after["saturation"]["throughput_per_s"]),
            "CPU per order (all but PostgreSQL)": _growth(_python_cpu(before), _python_cpu(after)),
            "paced p99": _growth(before["paced"]["latency"]["p99_ms"], after["paced"]["latency"]["p99_ms"]),
            "relay pipeline p50": _growth(
                before["paced"]["relay"]["latency"]["p50_ms"], after["paced"]["relay"]["latency"]["p50_ms"]
            ),
            "relay pipeline p99": _growth(
                before["paced"]["relay"]["latency"]["p99_ms"], after["paced"]["relay"]["latency"]["p99_ms"]
            ),
            "relay batch p50": _growth(rb.get("batch_ms_p50"), ra.get("batch_ms_p50")),
            "relay batch p99": _growth(rb.get("batch_ms_p99"), ra.get("batch_ms_p99")),
            "relay CPU per event": _growth(rb.get("cpu_ms_per_1000"), ra.get("cpu_ms_per_1000")),
        }
        pre_rounds = result.get("prefilled_rounds") or []
        if rounds and pre_rounds:
            # Each side against the chain measured next to it (the chain touches no table, so the
            # old rows cannot slow it: what moves it is the machine), median over the rounds.
            def relative(rs: list[dict[str, float]], key: str) -> float:
                if key == "ratio":
                    return statistics.median(r["ratio"] for r in rs)
                return statistics.median(r["service_cpu_ms_per_order"] / r["baseline_cpu_ms_per_order"] for r in rs)

            growth["throughput"] = relative(pre_rounds, "ratio") / relative(rounds, "ratio") - 1
            growth["CPU per order (all but PostgreSQL)"] = relative(pre_rounds, "cpu") / relative(rounds, "cpu") - 1
        if rb.get("relay_events_per_s") and ra.get("relay_events_per_s"):
            # Fewer events per second is a slower relay: report it as growth of the time per event.
            growth["relay time per event"] = rb["relay_events_per_s"] / ra["relay_events_per_s"] - 1
        result["growth"] = growth
    result["targets"] = targets(result)
    report.write_json(result, run_dir / "result.json")
    report.plot(result, result.get("series") or {}, run_dir / "plot.png")
    print(report.table(result))
    print(f"\n{run_dir / 'result.json'}\n{run_dir / 'plot.png'}")


if __name__ == "__main__":
    sys.exit(main())
