"""A slow consumer: the notifications worker stopped (or frozen between two messages) for a while.

Meanwhile the other domains keep flowing: orders confirm and fail, articles go public. The
notifications queue grows; once the worker is back it catches up, and every email still leaves
at most once. A stopped worker (warm shutdown) gives back what it held; a frozen one keeps the
message it may have fetched until it resumes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from django.db import connections

from notifications.models import Notification
from orders.models import Order
from publishing.models import PublicArticle
from tests.conftest import wait_until
from tests.reliability.conftest import timings
from tests.reliability.harness import System
from tests.reliability.shop import Shop, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


@dataclass(frozen=True)
class SlowTiming:
    seed: int
    at_step: int
    seconds: float
    how: str  # "stopped" (warm shutdown, then a new worker) or "frozen" (SIGSTOP, then SIGCONT)

    def __str__(self) -> str:
        return f"{self.how} {self.seconds:g}s from step {self.at_step}, seed {self.seed}"


TIMINGS = timings(
    [
        SlowTiming(seed=61, at_step=5, seconds=4, how="stopped"),
        SlowTiming(seed=67, at_step=10, seconds=8, how="frozen"),
    ]
)


def snapshot() -> dict[str, int]:
    return {
        "confirmed": Order.objects.filter(status=Order.Status.CONFIRMED).count(),
        "public": PublicArticle.objects.count(),
        "notified": Notification.objects.count(),
    }


@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_a_stopped_notifications_worker_holds_back_no_other_domain_and_catches_up(
    system: System, shop: Shop, finish, timing: SlowTiming
) -> None:
    before: dict[str, int] = {}
    meanwhile: dict[str, int] = {}
    resumed = threading.Event()
    resumed_at = 0.0

    def resume() -> None:
        # On a timer of its own: the stream must not be what brings the consumer back.
        nonlocal resumed_at
        try:
            now = snapshot()
            meanwhile.update({k: now[k] - before[k] for k in now})
            meanwhile["backlog"] = system.broker.ready("notifications")
        finally:
            connections.close_all()  # this thread's own connection
            if timing.how == "stopped":
                system.start_worker("notifications", wait=False)
            else:
                system.thaw_worker("notifications")
            resumed_at = time.monotonic()
            resumed.set()

    def slow_down(step: int) -> None:
        if step == timing.at_step:
            if timing.how == "stopped":
                system.stop_worker("notifications")
            else:
                system.freeze_worker_between_messages("notifications")
            before.update(snapshot())
            threading.Timer(timing.seconds, resume).start()

    run_stream(shop, seed=timing.seed, before_step=slow_down)
    wait_until(resumed.is_set, timeout=timing.seconds + 30, what="the notifications worker to be back")
    system.workers["notifications"].wait_ready()
    finish.details.update(
        orders_confirmed_meanwhile=meanwhile["confirmed"],
        articles_public_meanwhile=meanwhile["public"],
        backlog=meanwhile["backlog"],
    )
    finish(shop, fault="slow consumer", timing=str(timing), fault_ended_at=resumed_at)
    assert meanwhile["confirmed"] >= 3, "orders stopped confirming while notifications was down"
    assert meanwhile["backlog"] > 0, "nothing waited for notifications: the test tested nothing"
    assert meanwhile["notified"] == 0, "notifications wrote while it was down"
