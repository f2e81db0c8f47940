"""The processes of the reliability suite and what they count.

- ``OwnRedis``: a redis-server of this suite alone (the binary and flags of bin/embedded_redis.py:
  append-only file, fsync every second), which the tests stop, kill and start again.
- ``use_broker``: points the test process's Celery app (and settings) at that Redis.
- ``System``: one real ``celery worker`` per queue, plus relay processes, on the test database
  and that Redis, with the metrics and emails of every process written where the test reads them.
  With domains on databases of their own (the run's DATABASE_URL_<LABEL>: ``split_domains()``)
  each domain's worker and relay run that domain only (DOMAINS=<label>) with its own database's
  URL and no other (``database_env``), as docker-compose.yml deploys them.
- ``database_unavailable``: databases refuse work for a while (PostgreSQL: connections refused
  and the open ones terminated; SQLite: another process holds the write lock).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import importlib.util
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings
from kombu import pools
from prometheus_client.multiprocess import MultiProcessCollector

from project.messaging.broker import queue_states
from tests.brokers import RabbitQueues
from tests.conftest import (
    REPO,
    WorkerProcess,
    purge_queues,
    queued_messages,
    test_database_env,
    test_database_url,
)

# One worker per queue, as deployed (docs/operations.md); users and articles consume nothing today.
QUEUES = ("orders", "inventory", "users", "notifications", "articles", "publishing", "messaging")

# Scaled-down production timings, so that a fault is repaired within a test (production values in
# project/settings.py and docs/messaging.md). A worker SIGKILLed with a message in hand gets it
# back after the visibility timeout; the relay re-sends what was sent but not processed after
# MESSAGING_REDELIVER_AFTER; transient faults are retried long enough to outlast every outage here
# (the longest: a domain's database down 20 s, test_split_database_faults.py).
BASE_ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
    "CELERY_WORKER_SEND_TASK_EVENTS": "0",
    "CELERY_VISIBILITY_TIMEOUT": "6",
    "MESSAGING_MAX_ATTEMPTS": "60",  # about 45 s of retries: the longest outage here is 20 s
    "MESSAGING_RETRY_BACKOFF": "0.2",
    "MESSAGING_RETRY_BACKOFF_MAX": "1.5",
    "MESSAGING_REDELIVER_AFTER": "10",
    # SQLite only: a held write lock makes handlers fail after 2 s ("database is locked") instead
    # of waiting 30 s, so the database outage test sees retries (tests/reliability/worker_settings.py).
    "RELIABILITY_SQLITE_BUSY_TIMEOUT": "2",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",  # every line reaches the log, even from a process about to be SIGKILLed
}


def split_domains() -> list[str]:
    """The domains this run gives a database of their own (DATABASE_URL_<LABEL>); none on one database."""
    return [label for label in settings.DOMAIN_APPS if label in settings.DATABASES and label != DEFAULT_DB_ALIAS]


def shop_databases() -> list[str]:
    """Every database the shop's rows live in: the default (Django's apps, users), then each domain's own."""
    return [DEFAULT_DB_ALIAS, *split_domains()]


def database_env(domain: str | None) -> dict[str, str]:
    """The database URLs (and DOMAINS) of a process of ``domain``, or of every domain (None).

    The one place that chooses them. On one database every process gets DATABASE_URL. Split, a
    domain's process runs it alone with its own database's URL only: DATABASE_URL_<LABEL>, or for
    users (which lives in the default database, beside Django's auth user) DATABASE_URL; the
    other domains' URLs are not given to it. On PostgreSQL each URL names the role of its
    database (tests/db/roles.py: it may connect to that database only), as
    deploy/postgres/domains.sql gives each domain in production.
    """
    if domain is None or not split_domains():
        return test_database_env()
    if domain in split_domains():
        return {"DOMAINS": domain, f"DATABASE_URL_{domain.upper()}": test_database_url(domain)}
    return {"DOMAINS": domain, "DATABASE_URL": test_database_url()}


def _without_databases(environ: dict[str, str]) -> dict[str, str]:
    """An environment with no database URL and no DOMAINS: each process gets its own (database_env)."""
    return {k: v for k, v in environ.items() if not k.startswith("DATABASE_URL") and k != "DOMAINS"}


def _embedded_redis() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embedded_redis", REPO / "bin" / "embedded_redis.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OwnRedis:
    """A Redis server only this suite uses, on a free port, with its data (AOF) in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self._tool = _embedded_redis()
        self.data_dir = data_dir
        self.port: int = self._tool.free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = self._tool.redis_argv(self._tool.find_redis_server(), self.port, self.data_dir)
        with (self.data_dir / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while not self._tool.ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not start on port {self.port}: see {self.data_dir / 'redis.log'}")
            time.sleep(0.02)

    def stop(self, *, hard: bool = False) -> None:
        """SIGTERM (Redis writes its AOF and exits) or SIGKILL (it loses up to a second of writes)."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            self.proc.wait(timeout=15)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def purge(self) -> None:
        purge_queues(self.client())

    def open_deliveries(self) -> int:
        return open_deliveries_in_broker(self.client())

    def ready(self, queue: str) -> int:
        return queued_messages(self.client(), queue)


class SharedRabbitMQ:
    """The run's own vhost on a RabbitMQ this suite does not own (bin/test created the vhost): the
    faults here are the processes' (killed workers and relays, poison, a stopped consumer); the
    broker itself is never stopped. Tests that stop the broker are marked ``owns_broker``."""

    running = True
    owned = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.queues = RabbitQueues(url, settings.MESSAGING_QUEUES)

    def start(self) -> None:
        """Nothing to start: the broker is not the suite's."""

    def purge(self) -> None:
        self.queues.purge()

    def open_deliveries(self) -> int:
        """Messages in the vhost's queues: waiting (queue.declare's count, exact), or handed out
        and not acknowledged (rabbitmqctl's, which RabbitMQ refreshes every few seconds)."""
        ready = sum(state.messages for state in queue_states(self.url, settings.MESSAGING_QUEUES).values() if state)
        return ready + self.queues.unacked()

    def ready(self, queue: str) -> int:
        return self.queues.ready(queue)


Broker = OwnRedis | SharedRabbitMQ


def _point_celery_at(url: str) -> None:
    from project.celery import app

    app.conf.broker_url = url
    # Close and forget every kombu pool (the registry would hand back a closed one for a URL seen
    # before); the app rebuilds its connection and producer pools for the new URL on next use.
    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextmanager
def use_broker(url: str) -> Iterator[None]:
    """Send this process's Celery messages to ``url`` (settings and the cached Celery pools)."""
    from project.celery import app

    previous = app.conf.broker_url
    with override_settings(CELERY_BROKER_URL=url, REDIS_URL=url):
        _point_celery_at(url)
        try:
            yield
        finally:
            _point_celery_at(previous)


def broker_url_in_use() -> str:
    from project.celery import app

    with app.connection_for_write() as conn:
        return conn.as_uri(include_password=False)


RELAY_ARGV = ("manage.py", "relay_outbox", "--loop", "--interval", "0.2")


@dataclass
class Relay:
    """A relay: ``manage.py relay_outbox --loop``, one process for every domain, or split one per
    domain (``envs``: the part's label, "" for all, -> its environment), as deployed.

    Its log: ``log_path``, or split ``<stem>-<label>.log`` beside it for each part."""

    envs: dict[str, dict[str, str]]
    log_path: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    # The real command, or tests.reliability.lingering_relay (the same, lingering between send and commit).
    argv: tuple[str, ...] = RELAY_ARGV

    def part_log(self, part: str) -> Path:
        return self.log_path if not part else self.log_path.with_name(f"{self.log_path.stem}-{part}.log")

    def start(self) -> Relay:
        """Start every part that is not running."""
        for part, env in self.envs.items():
            if self._running(part):
                continue
            self.procs[part] = subprocess.Popen(
                [sys.executable, *self.argv],
                cwd=REPO,
                env=env,
                stdout=self.part_log(part).open("a"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def _running(self, part: str) -> bool:
        proc = self.procs.get(part)
        return proc is not None and proc.poll() is None

    @property
    def alive(self) -> bool:
        """Every part running."""
        return all(self._running(part) for part in self.envs)

    def pids(self) -> dict[int, str]:
        """The running parts' process ids -> their label ("" for all)."""
        return {proc.pid: part for part, proc in self.procs.items() if proc.poll() is None}

    def log(self) -> str:
        return "".join(self.part_log(part).read_text() for part in self.envs if self.part_log(part).exists())

    def kill_hard(self, pid: int | None = None) -> None:
        """SIGKILL every part, or only the process ``pid``."""
        for part, proc in self.procs.items():
            if self._running(part) and pid in (None, proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop(self) -> None:
        for part, proc in self.procs.items():
            if self._running(part):
                os.killpg(proc.pid, signal.SIGTERM)  # the loop finishes its sweep and exits
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_hard(proc.pid)


@dataclass
class KillRecord:
    queue: str
    how: str  # "worker" (main process and pool child) or "pool child"
    in_flight: bool  # a task was received and had not finished when the signal was sent


class System:
    """One worker process per queue (and relays) on the test database and the suite's Redis.

    ``kind`` is "production" (events sent right after commit, one relay as a safety net) or
    "relay-only" (nothing is sent on commit: only relays, or the test, send the outbox).

    Split (domains on databases of their own), each domain's worker, and each relay's part for
    it, run that domain only with its database only (``database_env``); the messaging queue's
    worker (the layer's own tasks) runs every domain, as web and the operator commands do.
    """

    def __init__(self, *, kind: str, broker: Broker, root: Path) -> None:
        self.kind = kind
        self.broker = broker
        self.root = root
        self.metrics_dir = root / "metrics"
        self.email_dir = root / "emails"
        self.log_dir = root / "logs"
        for folder in (self.metrics_dir, self.email_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # Everything but the databases, which each process gets for its domain (env_for).
        self.env = {
            **_without_databases(dict(os.environ)),
            **BASE_ENV,
            "CELERY_BROKER_URL": broker.url,
            # The cache: the suite's Redis, or on RabbitMQ the database's table.
            **({"REDIS_URL": broker.url} if isinstance(broker, OwnRedis) else {}),
            "TESTAPP_STATE_DIR": settings.TESTAPP_STATE_DIR,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "RELIABILITY_EMAIL_DIR": str(self.email_dir),
        }
        if kind == "relay-only":
            self.env["MESSAGING_SEND_ON_COMMIT"] = "false"
        self.workers: dict[str, WorkerProcess] = {}
        self.relays: list[Relay] = []
        self._incarnations: Counter[str] = Counter()
        self.kills: list[KillRecord] = []
        self.baseline: Counter[str] = Counter()  # the metrics when the current test started
        self._log_marks: dict[Path, int] = {}

    @property
    def split(self) -> bool:
        return bool(split_domains())

    def env_for(self, domain: str | None) -> dict[str, str]:
        """The environment of a process of ``domain`` (None: every domain)."""
        return {**self.env, **database_env(domain)}

    @staticmethod
    def domain_of(queue: str) -> str | None:
        """The domain whose worker consumes ``queue`` (None: the messaging layer's own queue)."""
        return queue if queue in settings.DOMAIN_APPS else None

    # --- workers --------------------------------------------------------------------------

    def start(self) -> System:
        for queue in QUEUES:
            self.start_worker(queue, wait=False)
        for worker in self.workers.values():
            worker.wait_ready(timeout=90)
        if self.kind == "production":
            self.start_relay()
        return self

    def start_worker(self, queue: str, *, wait: bool = True, env: dict[str, str] | None = None) -> WorkerProcess:
        self._incarnations[queue] += 1
        worker = WorkerProcess(
            queues=[queue],
            env={**self.env_for(self.domain_of(queue)), **(env or {})},
            log_path=self.log_dir / f"worker-{queue}-{self._incarnations[queue]}.log",
        )
        self.workers[queue] = worker
        return worker.start(wait=wait)

    def worker_alive(self, queue: str) -> bool:
        proc = self.workers[queue].proc
        return proc is not None and proc.poll() is None

    def ensure_workers(self) -> None:
        """Start again any worker that is not running, and wait until every worker is ready."""
        for queue in QUEUES:
            if not self.worker_alive(queue):
                self.start_worker(queue, wait=False)
        for worker in self.workers.values():
            worker.wait_ready(timeout=90)

    def stop_worker(self, queue: str) -> None:
        """A warm shutdown: SIGTERM to the worker's main process only, which lets the running task
        finish and gives back what it holds. (SIGTERM to the whole process group, as honcho and
        systemd's default KillMode=control-group do, also reaches the pool child, where Celery
        resets SIGTERM to its default: the running handler dies mid-transaction.)"""
        proc = self.workers[queue].proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.workers[queue].kill_hard()

    def kill_worker(self, queue: str) -> KillRecord:
        """SIGKILL the worker's main process and pool child together, as a lost host would."""
        in_flight = _task_in_flight(self.workers[queue].log())
        self.workers[queue].kill_hard()
        record = KillRecord(queue, "worker", in_flight)
        self.kills.append(record)
        return record

    def kill_pool_child(self, queue: str) -> KillRecord | None:
        """SIGKILL the pool process running the handlers, as the OOM killer would."""
        proc = self.workers[queue].proc
        assert proc is not None
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        try:
            pids = [int(p) for p in children.read_text().split()]
        except (OSError, ValueError):
            pids = []
        if not pids:
            return None
        in_flight = _task_in_flight(self.workers[queue].log())
        try:
            os.kill(pids[0], signal.SIGKILL)
        except ProcessLookupError:
            return None
        record = KillRecord(queue, "pool child", in_flight)
        self.kills.append(record)
        return record

    def freeze_worker_between_messages(self, queue: str, *, timeout: float = 15.0) -> None:
        """SIGSTOP the worker (main process and pool child) while it runs no handler: a consumer
        stuck, maybe holding a message it fetched, but no transaction. (Frozen inside one, on
        SQLite it would hold the one write lock and stop every domain until it resumed.)"""
        proc = self.workers[queue].proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while True:
            os.killpg(proc.pid, signal.SIGSTOP)
            if not _task_in_flight(self.workers[queue].log()):
                return
            os.killpg(proc.pid, signal.SIGCONT)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {queue} worker never stopped between two messages")
            time.sleep(0.01)

    def thaw_worker(self, queue: str) -> None:
        proc = self.workers[queue].proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGCONT)

    def worker_logs(self, queue: str) -> str:
        return "".join(p.read_text() for p in sorted(self.log_dir.glob(f"worker-{queue}-*.log")))

    # --- relays ---------------------------------------------------------------------------

    def start_relay(self, env: dict[str, str] | None = None, *, lingering: bool = False) -> Relay:
        """A relay (split: a process per domain, each with its database only), ``env`` added."""
        parts: list[str] = list(settings.DOMAIN_APPS) if self.split else [""]
        envs = {part: {**self.env_for(part or None), **(env or {})} for part in parts}
        relay = Relay(envs=envs, log_path=self.log_dir / f"relay-{len(self.relays) + 1}.log")
        if lingering:
            relay.argv = ("-m", "tests.reliability.lingering_relay")
        self.relays.append(relay.start())
        return relay

    def stop_extra_relays(self) -> None:
        """Back to the kind's relays: one for "production", none for "relay-only"."""
        keep = 1 if self.kind == "production" else 0
        for relay in self.relays[keep:]:
            relay.stop()
        self.relays = self.relays[:keep]
        for relay in self.relays:
            if not relay.alive:
                relay.start()

    # --- the whole system -----------------------------------------------------------------

    def stop(self) -> None:
        for relay in self.relays:
            relay.kill_hard()
        for worker in self.workers.values():
            if worker.proc and worker.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.proc.pid, signal.SIGCONT)  # a frozen one cannot die otherwise
                worker.kill_hard()

    def reset_observations(self) -> None:
        """Forget the emails and kills of earlier tests, and mark where the logs are (metrics are
        compared with a snapshot instead)."""
        for path in self.email_dir.iterdir():
            path.unlink()
        self.kills = []
        self._log_marks = {path: path.stat().st_size for path in self.log_dir.glob("*.log")}

    def logs_since_reset(self, pattern: str = "*.log") -> str:
        """What the matching logs (worker-<queue>-<n>.log, relay-<n>.log) said during this test."""
        texts = []
        for path in sorted(self.log_dir.glob(pattern)):
            with path.open("rb") as f:
                f.seek(self._log_marks.get(path, 0))
                texts.append(f.read().decode(errors="replace"))
        return "".join(texts)

    def metrics(self) -> Counter[str]:
        """Counters every worker and relay process wrote (killed ones included)."""
        # A process killed while it created its file leaves it empty: nothing to read there.
        files = [str(p) for p in self.metrics_dir.glob("*.db") if p.stat().st_size >= 8]
        totals: Counter[str] = Counter()
        for metric in MultiProcessCollector.merge(files, accumulate=True):
            for sample in metric.samples:
                if sample.name == "messaging_deliveries_handled_total":
                    totals[sample.labels["outcome"]] += sample.value
                elif sample.name == "messaging_deliveries_retried_total":
                    totals["retried"] += sample.value
        return totals

    def emails(self) -> Counter[tuple[str, str]]:
        """(to, subject) of every email the workers sent, counted (the file backend's files)."""
        sent: Counter[tuple[str, str]] = Counter()
        separator = b"-" * 79
        for path in self.email_dir.glob("*.log"):
            for raw in path.read_bytes().split(separator):
                if raw.strip():
                    message = email.message_from_bytes(raw.strip(), policy=email.policy.default)
                    sent[(str(message["To"]), str(message["Subject"]))] += 1
        return sent


RECEIVED = re.compile(r"Task \S+\[([0-9a-f-]{36})\] received")


def _task_in_flight(log: str) -> bool:
    """Is the last task the worker's log shows received still running (no line about it since)?

    A worker here holds one message at a time (concurrency 1, prefetch 1, late acks), so the last
    one received is the only one that can be running.
    """
    found = list(RECEIVED.finditer(log))
    return bool(found) and found[-1].group(1) not in log[found[-1].end() :]


def open_deliveries_in_broker(client: redis.Redis) -> int:
    """Messages waiting in the suite's Redis: in a queue, or handed out and not acknowledged."""
    waiting = sum(
        client.llen(key)
        for name in settings.MESSAGING_QUEUES
        for key in client.scan_iter(match=f"{name}*")
        if client.type(key) == b"list"
    )
    return waiting + client.hlen("unacked")


# --- the database refusing work -------------------------------------------------------------


@contextmanager
def database_unavailable(aliases: list[str] | None = None) -> Iterator[str]:
    """While inside, the databases ``aliases`` (default: every database of the shop) refuse the
    other processes' work.

    PostgreSQL: no new connection is allowed (``ALLOW_CONNECTIONS false``) and every other open
    connection to it is terminated; this process keeps its own (the test reads through it). SQLite:
    another connection holds the write lock (``BEGIN EXCLUSIVE``), so every transaction of the
    workers (IMMEDIATE) fails with "database is locked" once their busy timeout passes.
    """
    with contextlib.ExitStack() as stack:
        hows = [stack.enter_context(_one_database_unavailable(alias)) for alias in aliases or shop_databases()]
        yield "; ".join(sorted(set(hows)))


@contextmanager
def _one_database_unavailable(alias: str) -> Iterator[str]:
    connection = connections[alias]
    if connection.vendor == "postgresql":
        import psycopg

        s = connection.settings_dict
        name = s["NAME"]
        own_pid = connection.cursor().connection.info.backend_pid
        admin = psycopg.connect(
            host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
            dbname="postgres", autocommit=True,
        )  # fmt: skip
        try:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [name, own_pid],
            )
            yield "postgresql: connections refused, open ones terminated"
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.close()
    else:
        lock = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
        try:
            # SQLite's busy handler sleeps ever longer between tries and would get the lock only
            # once the workers are idle; trying every half millisecond takes it between two of
            # their transactions, while the messages of the last step are still on their way.
            deadline = time.monotonic() + 30
            while True:
                try:
                    lock.execute("BEGIN EXCLUSIVE")
                    break
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.0005)
            yield "sqlite: write lock held by another process"
        finally:
            lock.execute("ROLLBACK")
            lock.close()
