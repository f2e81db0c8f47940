"""Redis stopped for several seconds in the middle of the stream, then started again; on RabbitMQ
(a broker the suite does not own) every connection of the run's vhost closed mid-stream.

While it is down, every transaction still commits and its events wait in the outbox (the send
after commit fails and leaves them pending); workers lose their connection and reconnect. Once
it is back, the relay sends the backlog. A Redis SIGKILLed (not shut down) may also lose up to a
second of writes (appendfsync everysec): the relay re-sends whatever was sent and never
processed once MESSAGING_REDELIVER_AFTER passes. Nothing is lost, nothing is applied twice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from django.db import connections

from project.messaging.models import Delivery
from tests.conftest import wait_until
from tests.reliability.conftest import timings
from tests.reliability.harness import System
from tests.reliability.shop import Shop, everywhere, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


@dataclass(frozen=True)
class OutageTiming:
    seed: int
    at_step: int
    seconds: float
    hard: bool  # SIGKILL (may lose its last second of writes) rather than a clean shutdown

    def __str__(self) -> str:
        return (
            f"{'SIGKILL' if self.hard else 'SIGTERM'}, {self.seconds:g}s down at step {self.at_step}, seed {self.seed}"
        )


TIMINGS = timings(
    [OutageTiming(seed=31, at_step=6, seconds=4, hard=False), OutageTiming(seed=37, at_step=14, seconds=6, hard=True)]
)


@pytest.mark.owns_broker
@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_redis_down_mid_stream_holds_events_in_the_outbox_and_loses_none(
    system: System, shop: Shop, finish, timing: OutageTiming
) -> None:
    back = threading.Event()
    restarted_at = 0.0
    held_in_outbox = 0

    def start_again() -> None:
        nonlocal restarted_at, held_in_outbox
        try:
            # What waits in the outbox at this moment (this thread's own database connection).
            held_in_outbox = sum(rows.filter(status=Delivery.Status.PENDING).count() for rows in everywhere(Delivery))
        finally:
            connections.close_all()
            system.broker.start()
            restarted_at = time.monotonic()
            back.set()

    def fault(step: int) -> None:
        if step == timing.at_step:
            system.broker.stop(hard=timing.hard)
            threading.Timer(timing.seconds, start_again).start()

    run_stream(shop, seed=timing.seed, before_step=fault)
    wait_until(back.is_set, timeout=timing.seconds + 30, what="Redis to be started again")
    # CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS (project/settings.py): on losing the
    # broker, a worker terminates the handler it is running; it rolls back and comes again later.
    # A notifications handler cut after the mail server took its email sends it twice (counted
    # by the finish as an email attempt cut, and allowed that many re-sent emails).
    finish.details.update(
        held_in_outbox=held_in_outbox, handlers_terminated=system.logs_since_reset().count("Terminating it instead")
    )
    finish(shop, fault="Redis down", timing=str(timing), fault_ended_at=restarted_at)
    assert held_in_outbox > 0, "the stream went on while Redis was down: its events waited in the outbox"


@dataclass(frozen=True)
class ConnectionLossTiming:
    seed: int
    at_step: int

    def __str__(self) -> str:
        return f"every connection closed at step {self.at_step}, seed {self.seed}"


@pytest.mark.rabbitmq
@pytest.mark.parametrize(
    "timing", timings([ConnectionLossTiming(seed=41, at_step=6), ConnectionLossTiming(seed=43, at_step=14)]), ids=str
)
def test_rabbitmq_closing_every_connection_mid_stream_loses_nothing_and_applies_nothing_twice(
    system: System, shop: Shop, finish, timing: ConnectionLossTiming
) -> None:
    # What a RabbitMQ restart or a failover does to the clients: every worker, the relay and this
    # process lose their connection at once (rabbitmqctl close_all_connections, scoped to the
    # vhost). Workers reconnect and get back the messages they held unacknowledged; sends that
    # failed wait in the outbox for the relay.
    closed_at = 0.0

    def fault(step: int) -> None:
        nonlocal closed_at
        if step == timing.at_step:
            system.broker.queues.close_connections()
            closed_at = time.monotonic()

    run_stream(shop, seed=timing.seed, before_step=fault)
    assert closed_at, "the fault was injected"
    finish(shop, fault="RabbitMQ connections closed", timing=str(timing), fault_ended_at=closed_at)
