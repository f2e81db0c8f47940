"""Fixtures of the reliability suite (marker ``reliability``; run it on its own:
``bin/test tests/reliability -m reliability``).

The suite owns its broker: a Redis server started here, on a free port, that tests stop, kill
and start again. The test process's Celery app and settings are pointed at it for the duration
of the package (and back afterwards), and every worker and relay process gets its URL. The
workers (one per queue) and the relay live as long as consecutive tests need the same kind of
system; a test that fails takes them down at once (before the database is flushed) and the next
test starts a fresh set.

At the end of the session the report (tests/reliability/report.py) is printed and written to
var/reliability-report.json.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import REPO, wait_until
from tests.reliability.harness import (
    Broker,
    OwnRedis,
    SharedRabbitMQ,
    System,
    broker_url_in_use,
    split_domains,
    use_broker,
)
from tests.reliability.report import Report, Row
from tests.reliability.shop import CutAttempts, Shop, assert_consistent, counts, open_shop, settled

REPORT = pytest.StashKey[Report]()
FAILED = pytest.StashKey[bool]()
REPORT_PATH = REPO / "var" / "reliability-report.json"
HERE = Path(__file__).parent

T = TypeVar("T")


def repeats() -> int:
    """RELIABILITY_REPEATS=n runs every timing n times, each with its own seed (default 1)."""
    return max(1, int(os.environ.get("RELIABILITY_REPEATS", "1")))


def timings(base: list[T]) -> list[T]:
    """The timings of a fault, repeated RELIABILITY_REPEATS times with other seeds."""
    return [replace(t, seed=t.seed + 1000 * r) for r in range(repeats()) for t in base]  # type: ignore[type-var]


# --- the report -------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT] = Report()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(REPORT, None)
    if report is None or not report.rows:
        return
    terminalreporter.section("reliability report")
    terminalreporter.write_line(report.table())
    report.write_json(REPORT_PATH)
    terminalreporter.write_line(f"(written to {REPORT_PATH.relative_to(REPO)})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


# --- the broker and the processes -------------------------------------------------------------


# The faults of domains on databases of their own need them (DATABASE_URL_<LABEL>, as CI's split
# step sets): on one database that module is not collected at all.
collect_ignore = [] if split_domains() else ["test_split_database_faults.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On RabbitMQ (a broker the suite does not own) the tests that stop the broker are deselected;
    on SQLite those marked ``postgres_only``."""
    unfit = [
        item
        for item in items
        if (settings.MESSAGING_BROKER == "rabbitmq" and item.get_closest_marker("owns_broker") is not None)
        or (
            connection.vendor != "postgresql"
            and item.get_closest_marker("postgres_only") is not None
            and item.path.is_relative_to(HERE)
        )
    ]
    if unfit:
        config.hook.pytest_deselected(items=unfit)
        items[:] = [item for item in items if item not in unfit]


@pytest.fixture(scope="package")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The suite's broker: a Redis of its own, or on RabbitMQ (CELERY_BROKER_URL=amqp://..., bin/test)
    the run's own vhost."""
    if settings.MESSAGING_BROKER == "rabbitmq":
        yield SharedRabbitMQ(settings.CELERY_BROKER_URL)
        return
    server = OwnRedis(tmp_path_factory.mktemp("reliability-redis"))
    server.start()
    with use_broker(server.url):
        assert f"127.0.0.1:{server.port}/" in broker_url_in_use(), "the test process must send to the suite's Redis"
        yield server
    server.stop()


class Systems:
    """The running system, replaced when a test needs another kind or the last test failed."""

    def __init__(self, broker: Broker, root: Path) -> None:
        self.broker = broker
        self.root = root
        self.current: System | None = None
        self.started = 0

    def get(self, kind: str) -> System:
        if self.current is not None and self.current.kind != kind:
            self.discard()
        if not self.broker.running:
            self.broker.start()
        if self.current is None:
            self.broker.purge()
            self.started += 1
            self.current = System(kind=kind, broker=self.broker, root=self.root / f"{self.started}-{kind}").start()
        return self.current

    def discard(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None
        if self.broker.running:
            self.broker.purge()


@pytest.fixture(scope="package")
def systems(django_db_setup: None, own_redis: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Systems]:
    pool = Systems(own_redis, tmp_path_factory.mktemp("reliability-systems"))
    yield pool
    pool.discard()


@pytest.fixture
def system(request: pytest.FixtureRequest, systems: Systems, transactional_db: None) -> Iterator[System]:
    """The workers (one per queue) and relays of this module's kind (module attribute SYSTEM:
    "production", the default, or "relay-only"), all alive and idle, with an empty broker."""
    running = systems.get(getattr(request.module, "SYSTEM", "production"))
    running.ensure_workers()
    running.stop_extra_relays()
    running.broker.purge()
    running.reset_observations()
    running.baseline = running.metrics()
    yield running
    if request.node.stash.get(FAILED, False):
        # Down at once, before the database is flushed: nothing of this test may leak into the next.
        systems.discard()
    else:
        running.stop_extra_relays()


@pytest.fixture
def shop(system: System) -> Shop:
    """The shop, open: products known to orders, customers known to notifications."""
    return open_shop()


# --- finishing a run: wait until quiet, check everything, report -------------------------------


@dataclass
class Finish:
    """Ends a test run: waits until the system is quiet, checks every invariant, adds a report row."""

    request: pytest.FixtureRequest
    system: System
    report: Report
    details: dict[str, Any] = field(default_factory=dict)

    def __call__(
        self,
        shop: Shop,
        *,
        fault: str,
        timing: str,
        fault_ended_at: float,
        pump: Callable[[], bool] | None = None,
        timeout: float = 120.0,
    ) -> Row:
        """``pump``: the test's own sending, called while waiting; True once it holds nothing back."""

        def quiet() -> bool:
            drained = pump() if pump is not None else True
            return drained and settled() and self.system.broker.open_deliveries() == 0

        wait_until(quiet, timeout=timeout, interval=0.1, what="every order ended, delivery processed, broker empty")
        converged = round(time.monotonic() - fault_ended_at, 2)
        metrics = self.system.metrics()
        metrics.subtract(self.system.baseline)
        numbers = counts(shop)
        if numbers["unrecorded_sends"]:
            self.details["unrecorded_sends"] = numbers["unrecorded_sends"]
        kills = self.system.kills
        if kills:
            self.details["kills"] = len(kills)
            self.details["kills_in_flight"] = sum(k.in_flight for k in kills)
        cut = cut_email_attempts(self.system)
        if cut:
            self.details["email_attempts_not_committed"] = cut.blind + sum(cut.failed.values())
        row = Row(
            test=self.request.node.name,
            fault=fault,
            timing=timing,
            database=connection.vendor + (" split" if split_domains() else ""),
            sent=numbers["sent"],
            processed=numbers["processed"],
            retried=int(metrics["retried"]),
            dead_lettered=numbers["dead_lettered"],
            duplicates=int(metrics["duplicate"]),
            converge_seconds=converged,
            stream_seconds=shop.stream_seconds,
            details=self.details,
        )
        self.report.add(row)
        try:
            stats = assert_consistent(shop, self.system.emails(), cut=cut)
        except BaseException:
            row.details["invariants"] = "FAILED"
            raise
        row.orders, row.emails = stats["orders"], stats["emails"]
        if stats["emails_resent"]:
            row.details["emails_resent"] = stats["emails_resent"]
        return row


EMAIL_HANDLERS = (
    "notifications.tell_customer_order_confirmed",
    "notifications.tell_customer_order_failed",
    "notifications.send_new_article_email",
)
EVENT_ID = re.compile(r"\bevent_id=([0-9a-f-]{36})\b")


def cut_email_attempts(system: System) -> CutAttempts:
    """This test's attempts of the email-sending handlers that did not commit (see CutAttempts):
    from the notifications workers' logs (a failed attempt names its event; a handler terminated
    on broker connection loss by CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS, or a
    pool process that died of SIGTERM, does not) and from the kills of the notifications worker."""
    log = system.logs_since_reset("worker-notifications-*.log")
    cut = CutAttempts(blind=sum(1 for k in system.kills if k.queue == "notifications"))
    cut.blind += log.count("Terminating it instead") + log.count("exited prematurely: signal 15")
    for line in log.splitlines():
        if "failed (attempt" in line and any(f"Handler {h} failed" in line for h in EMAIL_HANDLERS):
            found = EVENT_ID.search(line)
            if found:
                cut.failed[found.group(1)] += 1
    return cut


@pytest.fixture
def finish(request: pytest.FixtureRequest, system: System) -> Finish:
    """``finish(shop, fault=..., timing=..., fault_ended_at=...)`` ends the test; ``finish.details``
    takes what the test wants in its report row."""
    return Finish(request=request, system=system, report=request.config.stash[REPORT])
