"""A worker SIGKILLed inside a handler: the message comes back and is applied exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from project.messaging.models import InboxRecord
from tests.brokers import BrokerQueues
from tests.conftest import wait_until
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]

# Redis has no real acknowledgements: kombu parks a delivered message in its `unacked` set and a
# worker puts it back in the queue once it has been unacknowledged for `visibility_timeout`
# seconds. Production uses 3600 s (longer than any task plus retry countdown); here 4 s, so that
# the test does not wait an hour.
VISIBILITY = {"CELERY_VISIBILITY_TIMEOUT": "4"}


def test_a_message_whose_worker_was_killed_mid_handler_is_applied_once_by_the_next_worker(
    worker_factory, clean_queues: BrokerQueues, settings
) -> None:
    first = worker_factory(["testapp"], env=VISIBILITY)
    tally_ping(key="CRASH", amount=7, behaviour="slow:60")
    inside = Path(settings.TESTAPP_STATE_DIR) / "inside-CRASH"
    wait_until(inside.exists, what="the handler to be inside its transaction")
    first.kill_hard()  # SIGKILL the worker and its pool child, mid-transaction
    assert not Tally.objects.filter(key="CRASH").exists()  # the half-done transaction rolled back
    assert not InboxRecord.objects.exists()

    second = worker_factory(["testapp"], env=VISIBILITY)
    wait_until(lambda: Tally.objects.filter(key="CRASH", count=7).exists(), timeout=60, what="the redelivery")
    assert InboxRecord.objects.count() == 1
    wait_until(lambda: clean_queues.ready("testapp") == 0 and not clean_queues.unacked(), what="a clean queue")
    assert Tally.objects.get(key="CRASH").count == 7
    assert "restor" in second.log().lower() or "received" in second.log()


def test_a_message_whose_pool_process_was_killed_mid_handler_is_given_back_and_applied_once(
    worker_factory, clean_queues: BrokerQueues, settings
) -> None:
    worker = worker_factory(["testapp"])
    tally_ping(key="OOM", amount=3, behaviour="slow:60")
    inside = Path(settings.TESTAPP_STATE_DIR) / "inside-OOM"
    wait_until(lambda: inside.exists() and inside.read_text(), what="the handler to be inside its transaction")
    os.kill(int(inside.read_text()), signal.SIGKILL)  # the pool child dies, as under the OOM killer
    # task_reject_on_worker_lost: the main process gives the message back at once; a new child runs it.
    wait_until(lambda: Tally.objects.filter(key="OOM", count=3).exists(), timeout=60, what="the redelivery")
    assert InboxRecord.objects.count() == 1
    assert "WorkerLostError" in worker.log()
