"""What Celery (and so Flower) is told about a dead-lettered delivery: a failed task, not a success.

A real worker sends its task events to Redis; a Celery events receiver (what Flower runs) records
them. The dead letter is committed before the task fails, exactly once, and the task is neither
retried by Celery nor logged with a traceback as if it were a bug.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from project.celery import app
from project.messaging.models import DeadLetter, Delivery
from tests.conftest import wait_until
from tests.testapp.services import tally_ping

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]


class TaskEvents:
    """The task events of the broker, as Flower receives them, recorded in a thread."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._receiver: Any = None

    def run(self) -> None:
        with app.connection_for_read() as connection:
            self._receiver = app.events.Receiver(connection, handlers={"*": self.events.append})
            # Called once its queue is bound to the events exchange: no event is missed after it.
            self._receiver.on_consume_ready = lambda *args, **kwargs: self.connected.set()
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["type"] == kind]


@pytest.fixture
def task_events(clean_queues) -> Iterator[TaskEvents]:
    recorder = TaskEvents()
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    assert recorder.connected.wait(15), "the events receiver did not connect"
    yield recorder
    recorder.stop()
    thread.join(timeout=10)


def test_a_dead_lettered_delivery_is_a_failed_task_for_flower_and_its_letter_exists_once(
    worker_factory, task_events: TaskEvents, settings
) -> None:
    worker = worker_factory(["testapp"], env={"CELERY_WORKER_SEND_TASK_EVENTS": "1"})

    tally_ping(key="CHEERFUL-CHAFFINCH", amount=1)  # a delivery that works, for comparison
    tally_ping(key="GRUMPY-GOOSE", amount=1, behaviour="permanent")  # refused by its handler

    failed = wait_until(lambda: task_events.of("task-failed"), timeout=30, what="a task-failed event")
    succeeded = wait_until(lambda: task_events.of("task-succeeded"), timeout=30, what="a task-succeeded event")
    assert len(failed) == 1 and len(succeeded) == 1
    assert "DeliveryDeadLettered" in failed[0]["exception"]
    assert "testapp.add_to_tally: dead-lettered" in failed[0]["exception"]
    assert "tally GRUMPY-GOOSE refuses this ping" in failed[0]["exception"]
    assert failed[0]["uuid"] != succeeded[0]["uuid"]

    letter = DeadLetter.objects.get()  # exactly one, committed before the task failed
    assert (letter.envelope["payload"]["key"], letter.attempts, letter.status) == ("GRUMPY-GOOSE", 1, "dead")
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.DEAD_LETTERED).count() == 1,
        what="the delivery marked dead-lettered",
    )

    # Not retried by Celery, not redelivered: a third, healthy delivery is handled after it and
    # still nothing more happened to the refused one.
    tally_ping(key="CHEERFUL-CHAFFINCH", amount=1)
    wait_until(lambda: len(task_events.of("task-succeeded")) == 2, timeout=30, what="the second success")
    assert task_events.of("task-retried") == []
    assert len(task_events.of("task-failed")) == 1
    assert DeadLetter.objects.get().attempts == 1

    log = worker.log()
    assert "Traceback" not in log  # an expected outcome: one line, the dead letter keeps the traceback
    assert "raised unexpected" not in log
    assert "DeliveryDeadLettered" in log
