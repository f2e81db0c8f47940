"""A slow consumer: the notifications worker stopped (or frozen, holding a message) for a while.

Meanwhile the other domains keep flowing: orders confirm and fail, articles go public. The
notifications queue grows; once the worker is back it catches up, and every email still leaves
at most once. A frozen worker holds a message past the visibility timeout: another worker hands
it out again, and the inbox drops the second copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from notifications.models import Notification
from orders.models import Order
from publishing.models import PublicArticle
from tests.conftest import queued_messages
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
    [SlowTiming(seed=61, at_step=5, seconds=4, how="stopped"), SlowTiming(seed=67, at_step=10, seconds=8, how="frozen")]
)


def confirmed_orders() -> int:
    return Order.objects.filter(status=Order.Status.CONFIRMED).count()


@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_a_stopped_notifications_worker_holds_back_no_other_domain_and_catches_up(
    system: System, shop: Shop, finish, timing: SlowTiming
) -> None:
    window: dict[str, float] = {}

    def slow_down(step: int) -> None:
        if step == timing.at_step:
            if timing.how == "stopped":
                system.stop_worker("notifications")
            else:
                system.freeze_worker("notifications")
            window.update(start=time.monotonic(), confirmed=confirmed_orders(), public=PublicArticle.objects.count())
            window["notified"] = Notification.objects.count()

    def resume_when_due() -> None:
        if "start" in window and "end" not in window and time.monotonic() - window["start"] >= timing.seconds:
            window["orders_confirmed_meanwhile"] = confirmed_orders() - window["confirmed"]
            window["public_meanwhile"] = PublicArticle.objects.count() - window["public"]
            window["notified_meanwhile"] = Notification.objects.count() - window["notified"]
            window["backlog"] = queued_messages(system.broker.client(), "notifications")
            if timing.how == "stopped":
                system.start_worker("notifications")
            else:
                system.thaw_worker("notifications")
            window["end"] = time.monotonic()

    run_stream(shop, seed=timing.seed, before_step=slow_down, after_step=lambda step: resume_when_due())
    while "end" not in window:
        time.sleep(0.05)
        resume_when_due()
    finish.details.update(
        orders_confirmed_meanwhile=int(window["orders_confirmed_meanwhile"]),
        articles_public_meanwhile=int(window["public_meanwhile"]),
        backlog=int(window["backlog"]),
    )
    finish(shop, fault="slow consumer", timing=str(timing), fault_ended_at=window["end"])
    assert window["orders_confirmed_meanwhile"] >= 3, "orders stopped confirming while notifications was down"
    assert window["backlog"] > 0, "nothing waited for notifications: the test tested nothing"
    if timing.how == "stopped":
        assert window["notified_meanwhile"] == 0
