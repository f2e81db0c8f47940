"""Workers SIGKILLed at random moments while the stream flows.

A kill lands before a handler ran, inside its transaction, between its commit and the broker's
acknowledgement, or between messages. Whatever it interrupted comes back (a killed pool child's
message at once, task_reject_on_worker_lost; a whole worker's after the visibility timeout), and
the inbox applies every delivery exactly once: what was committed before the kill arrives again
as a duplicate and changes nothing.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest

from tests.reliability.conftest import timings
from tests.reliability.harness import System
from tests.reliability.shop import Shop, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

TARGETS = ("orders", "inventory", "notifications", "publishing")


@dataclass(frozen=True)
class KillTiming:
    seed: int
    kills: int
    max_delay: float  # the kill comes 0..max_delay seconds after a step committed (its messages in flight)

    def __str__(self) -> str:
        return f"{self.kills} kills 0-{self.max_delay * 1000:.0f}ms after a commit, seed {self.seed}"


TIMINGS = timings([KillTiming(seed=11, kills=4, max_delay=0.02), KillTiming(seed=23, kills=6, max_delay=0.1)])


@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_workers_killed_at_random_points_lose_nothing_and_apply_every_delivery_once(
    system: System, shop: Shop, finish, timing: KillTiming
) -> None:
    rng = random.Random(timing.seed)
    kill_after = set(rng.sample(range(1, 26), timing.kills))
    last_kill = time.monotonic()

    def kill_someone(step: int) -> None:
        nonlocal last_kill
        if step not in kill_after:
            return
        queue = rng.choice(TARGETS)
        system.workers[queue].wait_ready()  # a worker still starting has no handler to interrupt
        time.sleep(rng.uniform(0, timing.max_delay))
        if rng.random() < 0.5 or system.kill_pool_child(queue) is None:
            system.kill_worker(queue)  # main process and pool child: back after the visibility timeout
            system.start_worker(queue, wait=False)
        last_kill = time.monotonic()

    run_stream(shop, seed=timing.seed, after_step=kill_someone)
    system.ensure_workers()
    # A kill after the mail server took an email and before the commit sends it again (the
    # documented at-least-once window): the finish allows one email per kill of notifications.
    finish(shop, fault="worker SIGKILL", timing=str(timing), fault_ended_at=last_kill)
    assert len(system.kills) == timing.kills
