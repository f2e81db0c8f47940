"""The database refuses work for several seconds while messages are in flight.

PostgreSQL: connections to the test database are refused and the open ones terminated (from an
admin connection: ALTER DATABASE ... ALLOW_CONNECTIONS false, pg_terminate_backend). SQLite:
another process holds the write lock longer than the workers' busy timeout, so their
transactions fail with "database is locked". Either way the handlers fail with OperationalError,
a transient fault: they are retried with backoff until the database is back, and nothing is
lost or applied twice. The stream pauses meanwhile (the clients could not write either).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.reliability.conftest import timings
from tests.reliability.harness import System, database_unavailable
from tests.reliability.shop import Shop, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


@dataclass(frozen=True)
class OutageTiming:
    seed: int
    at_step: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.seconds:g}s down after step {self.at_step}, seed {self.seed}"


TIMINGS = timings([OutageTiming(seed=41, at_step=4, seconds=4), OutageTiming(seed=43, at_step=17, seconds=7)])


@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_the_database_refusing_work_for_seconds_is_retried_through_and_loses_nothing(
    system: System, shop: Shop, finish, timing: OutageTiming
) -> None:
    ended_at = 0.0

    def hold_inventory(step: int) -> None:
        if step == timing.at_step:
            # So that the outage surely meets work in flight: inventory waits (frozen between two
            # messages) while this step places its order, and is let go once the database is away.
            system.freeze_worker_between_messages("inventory")

    def outage(step: int) -> None:
        nonlocal ended_at
        if step == timing.at_step:
            with database_unavailable() as how:
                system.thaw_worker("inventory")  # its ReserveStock commands meet the outage
                finish.details["outage"] = how
                time.sleep(timing.seconds)
            ended_at = time.monotonic()

    run_stream(shop, seed=timing.seed, before_step=hold_inventory, after_step=outage)
    row = finish(shop, fault="database down", timing=str(timing), fault_ended_at=ended_at)
    assert row.retried > 0, "no handler met the outage: it did not test anything"
