"""Fixtures: a synchronous test bus, the real broker (Redis, or RabbitMQ), and real Celery worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test import TransactionTestCase

from project.messaging.models import DeadLetter
from project.messaging.outbox import relay
from project.messaging.outbox.publish import publish
from project.messaging.testing import TestBus, test_bus
from tests.brokers import BrokerQueues
from tests.brokers import broker_queues as broker_queues_for
from tests.db import roles as domain_roles
from tests.testapp.events import Pinged

REPO = Path(__file__).resolve().parent.parent


def wait_until(
    predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> object:
    """Poll until ``predicate`` returns something truthy; fail the test with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


_deselected_for_the_broker: list[str] = []


def _on_every_database(items: list[pytest.Item]) -> None:
    """With domains on databases of their own (DATABASE_URL_<LABEL>), a test that uses the
    database uses all of them: its services write to their app's database, not the default."""
    for item in items:
        test_class = getattr(item, "cls", None)
        if isinstance(test_class, type) and issubclass(test_class, TransactionTestCase):
            test_class.databases = "__all__"  # Django's own test classes read it, not the marker
            continue
        fixtures = getattr(item, "fixturenames", ())
        marker = item.get_closest_marker("django_db")
        if marker is None and not {"db", "transactional_db"} & set(fixtures):
            continue
        kwargs = dict(marker.kwargs) if marker is not None else {}
        if marker is not None and marker.args:
            kwargs.setdefault("transaction", marker.args[0])
        if "transactional_db" in fixtures:
            kwargs["transaction"] = True
        kwargs.setdefault("databases", "__all__")
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``rabbitmq`` need RabbitMQ as the run's broker: on Redis they are deselected
    (and counted in the summary), not skipped one by one."""
    if set(settings.DATABASES) - {"default", "elsewhere"}:  # "elsewhere": the acknowledgement tests' own
        _on_every_database(items)
    if settings.MESSAGING_BROKER == "rabbitmq":
        return
    kept = [item for item in items if item.get_closest_marker("rabbitmq") is None]
    deselected = [item for item in items if item.get_closest_marker("rabbitmq") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        _deselected_for_the_broker.extend(item.nodeid for item in deselected)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _deselected_for_the_broker:
        terminalreporter.write_line(
            f"{len(_deselected_for_the_broker)} RabbitMQ tests deselected: the run's broker is "
            f"{settings.MESSAGING_BROKER} (run them with CELERY_BROKER_URL=amqp://... bin/test)."
        )


@pytest.fixture
def bus(db: None) -> Iterator[TestBus]:
    with test_bus() as the_bus:
        yield the_bus


@pytest.fixture
def dead_letter(bus: TestBus) -> DeadLetter:
    """A message its handler refuses outright (testapp's "permanent" behaviour), parked as a dead letter."""
    with transaction.atomic():
        publish(Pinged(key="grumpy-goose", amount=1, behaviour="permanent"))
    bus.drain()
    return DeadLetter.objects.get()


@pytest.fixture(autouse=True)
def _sending_after_commit_not_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A test that made a send fail must not leave the next tests' commits unsent.
    monkeypatch.setattr(relay, "_send_paused_until", 0.0)


@pytest.fixture(autouse=True)
def _clean_testapp_state() -> Iterator[None]:
    shutil.rmtree(settings.TESTAPP_STATE_DIR, ignore_errors=True)
    Path(settings.TESTAPP_STATE_DIR).mkdir(parents=True, exist_ok=True)
    yield


@pytest.fixture(scope="session")
def broker_queues() -> BrokerQueues:
    """The run's broker, Redis or RabbitMQ (CELERY_BROKER_URL=amqp://...), for the flow tests."""
    queues = broker_queues_for(settings.CELERY_BROKER_URL, settings.MESSAGING_QUEUES)
    try:
        queues.ping()
    except Exception as exc:  # noqa: BLE001  (whichever client's error)
        pytest.fail(f"No broker at {settings.CELERY_BROKER_URL}: start one or run the tests with bin/test ({exc!r})")
    return queues


@pytest.fixture
def clean_queues(broker_queues: BrokerQueues) -> BrokerQueues:
    """The broker's queues, emptied: no message of an earlier test is left in them."""
    broker_queues.purge()
    return broker_queues


@pytest.fixture(scope="session")
def broker() -> redis.Redis:
    """The Redis broker's own client, for the tests about Redis itself (the relay's pipelines,
    kombu's unacked set)."""
    if settings.MESSAGING_BROKER != "redis":
        pytest.fail(f"This test needs the Redis broker (the run's is {settings.MESSAGING_BROKER}).")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"No Redis at {settings.CELERY_BROKER_URL}: start one or run the tests with bin/test ({exc})")
    return client


def queue_keys(client: redis.Redis) -> list[bytes]:
    """The Redis keys holding our queues' messages (priority variants included) and unacked ones."""
    keys: list[bytes] = []
    for name in settings.MESSAGING_QUEUES:
        keys.extend(client.scan_iter(match=f"{name}*"))
    keys.extend(k for k in (b"unacked", b"unacked_index", b"unacked_mutex") if client.exists(k))
    return keys


def purge_queues(client: redis.Redis) -> None:
    keys = queue_keys(client)
    if keys:
        client.delete(*keys)


def queued_messages(client: redis.Redis, queue: str) -> int:
    return sum(client.llen(k) for k in client.scan_iter(match=f"{queue}*") if client.type(k) == b"list")


@pytest.fixture
def clean_broker(broker: redis.Redis) -> redis.Redis:
    purge_queues(broker)
    return broker


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test databases, each given to its domain's role on PostgreSQL when split (tests/db/roles.py)."""
    if domain_roles.uses_domain_roles():
        with django_db_blocker.unblock():
            domain_roles.give_each_database_its_role()


def test_database_url(alias: str = DEFAULT_DB_ALIAS) -> str:
    """The URL of the database pytest-django created, for worker subprocesses to share it: with
    a role per domain (PostgreSQL, split), the URL of the database's own role."""
    s = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    if domain_roles.uses_domain_roles() and alias in domain_roles.role_aliases():
        return f"postgres://{domain_roles.role_of(alias)}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


def test_database_env() -> dict[str, str]:
    """DATABASE_URL, and DATABASE_URL_<LABEL> for each domain with a database of its own: the
    test databases, for a subprocess (a worker, a command) to use the ones this run made."""
    return {
        "DATABASE_URL": test_database_url(),
        **{
            f"DATABASE_URL_{alias.upper()}": test_database_url(alias)
            for alias in settings.DATABASES
            if alias != DEFAULT_DB_ALIAS and alias in settings.DOMAIN_APPS
        },
    }


test_database_env.__test__ = False  # type: ignore[attr-defined]


@dataclass
class WorkerProcess:
    """A real `celery worker` subprocess consuming some queues of the test database and Redis."""

    queues: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    extra_args: list[str] = field(default_factory=list)

    def start(self, *, wait: bool = True) -> WorkerProcess:
        self.log_path.write_text("")
        name = f"{'-'.join(self.queues)}-{os.getpid()}-{time.monotonic_ns()}@%h"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "project",
                "worker",
                "-Q",
                ",".join(self.queues),
                "-n",
                name,
                "--concurrency=1",
                "--pool=prefork",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                *self.extra_args,
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.log_path.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 takes the pool child too
        )
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        assert self.proc is not None
        wait_until(
            lambda: " ready." in self.log_path.read_text() or self.proc.poll() is not None,
            timeout=timeout,
            what=f"worker {self.queues} to start",
        )
        if self.proc.poll() is not None:
            pytest.fail(f"Worker {self.queues} exited at start:\n{self.log_path.read_text()[-3000:]}")
        return self

    def stop(self) -> None:
        """A warm shutdown, as `kill -TERM <pid>` or systemd's KillMode=mixed gives: SIGTERM to the
        main process only, which lets the running task finish and stops its pool child. (SIGTERM
        to the whole process group would also reach the pool child, where Celery restores
        SIGTERM's default action: the running handler would die mid-transaction.) SIGKILL to the
        group if it has not stopped within 15 s."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def kill_hard(self) -> None:
        """SIGKILL the whole worker (main process and pool child), as an OOM killer or a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def worker_factory(
    django_db_setup: None, broker_queues: BrokerQueues, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker subprocesses (stopped at the end of the test); env overrides per worker."""
    started: list[WorkerProcess] = []

    def start(
        queues: list[str], env: dict[str, str] | None = None, extra_args: list[str] | None = None, wait: bool = True
    ) -> WorkerProcess:
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            **test_database_env(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            # The cache: the broker's Redis, or with RabbitMQ the database's table.
            **({"REDIS_URL": settings.CELERY_BROKER_URL} if settings.MESSAGING_BROKER == "redis" else {}),
            "TESTAPP_STATE_DIR": settings.TESTAPP_STATE_DIR,
            "CELERY_WORKER_SEND_TASK_EVENTS": "0",
            **(env or {}),
        }
        worker = WorkerProcess(
            queues=queues,
            env=worker_env,
            log_path=tmp_path / f"worker-{len(started)}.log",
            extra_args=extra_args or [],
        )
        started.append(worker)
        return worker.start(wait=wait)

    yield start
    for worker in started:
        # No warm shutdown at the end of a test: nothing it was doing matters any more, and the
        # next test purges the queues (and kombu's unacked set) before it starts.
        if worker.proc and worker.proc.poll() is None:
            worker.kill_hard()


@pytest.fixture
def workers(worker_factory: Callable[..., WorkerProcess], clean_queues: BrokerQueues) -> dict[str, WorkerProcess]:
    """One real worker process per queue that has subscribers in these tests."""
    started = {queue: worker_factory([queue], wait=False) for queue in ("orders", "inventory", "testapp")}
    return {queue: worker.wait_ready() for queue, worker in started.items()}
