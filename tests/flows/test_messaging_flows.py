"""The messaging layer end to end: real Celery worker processes, real Redis, real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from project.messaging.models import DeadLetter, Delivery, InboxRecord
from project.messaging.operations import services
from project.messaging.outbox.relay import send_messages, sweep
from tests.brokers import BrokerQueues
from tests.conftest import wait_until
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]


def tally(key: str) -> int:
    found = Tally.objects.filter(key=key).first()
    return found.count if found else 0


def attempts(settings, key: str) -> int:
    from pathlib import Path

    path = Path(settings.TESTAPP_STATE_DIR) / f"attempts-{key}"
    return int(path.read_text()) if path.exists() else 0


def test_a_committed_event_reaches_its_subscriber_through_a_real_worker(workers) -> None:
    tally_ping(key="CRUNCHY-ARMCHAIR", amount=3)
    wait_until(lambda: tally("CRUNCHY-ARMCHAIR") == 3, what="the worker to apply the event")
    wait_until(lambda: Delivery.objects.get().status == Delivery.Status.PROCESSED, what="the delivery to be confirmed")
    assert InboxRecord.objects.get().handler == "testapp.add_to_tally"


def test_a_transient_fault_is_retried_by_the_worker_and_then_succeeds(workers, settings) -> None:
    tally_ping(key="FLAKY", amount=2, behaviour="transient:2")  # fails twice, 3 attempts allowed
    wait_until(lambda: tally("FLAKY") == 2, what="the third attempt to succeed")
    assert attempts(settings, "FLAKY") == 3
    assert not DeadLetter.objects.exists()


def test_a_permanent_fault_lands_in_the_dead_letter_table_at_once(workers, settings) -> None:
    tally_ping(key="GRUMPY", amount=1, behaviour="permanent")
    letter = wait_until(lambda: DeadLetter.objects.first(), what="the dead letter")
    assert (letter.error_type, letter.attempts) == ("project.messaging.contract.errors.PermanentError", 1)
    assert letter.error_message == "tally GRUMPY refuses this ping"
    assert attempts(settings, "GRUMPY") == 1
    wait_until(lambda: Delivery.objects.get().status == Delivery.Status.DEAD_LETTERED, what="the delivery marked")


def test_an_exhausted_fault_lands_in_the_dead_letter_table_after_the_configured_attempts(workers, settings) -> None:
    tally_ping(key="DOWN", amount=1, behaviour="transient:99")
    letter = wait_until(lambda: DeadLetter.objects.first(), what="the dead letter")
    assert (letter.attempts, letter.permanent) == (settings.MESSAGING_MAX_ATTEMPTS, False)
    assert attempts(settings, "DOWN") == settings.MESSAGING_MAX_ATTEMPTS
    assert letter.last_failed_at > letter.first_failed_at
    assert tally("DOWN") == 0


def test_a_replayed_dead_letter_is_applied_once_by_the_worker(workers, settings) -> None:
    tally_ping(key="LATE", amount=4, behaviour=f"transient:{settings.MESSAGING_MAX_ATTEMPTS}")
    letter = wait_until(lambda: DeadLetter.objects.first(), what="retries to run out")
    services.dead_letter_replay(dead_letter_id=letter.pk)  # the cause has passed: next attempt works
    wait_until(lambda: DeadLetter.objects.get().status == DeadLetter.Status.RESOLVED, what="the replay")
    # A second replay of the same letter (an operator clicking twice) is refused and changes nothing.
    with pytest.raises(services.DeadLetterStateError):
        services.dead_letter_replay(dead_letter_id=letter.pk)
    assert tally("LATE") == 4
    assert DeadLetter.objects.get().replay_count == 1


def test_the_same_message_delivered_twice_by_the_broker_changes_state_once(workers) -> None:
    tally_ping(key="TWICE", amount=5)
    wait_until(lambda: tally("TWICE") == 5, what="the first delivery")
    delivery = Delivery.objects.select_related("event").get()
    from project.messaging.outbox.relay import delivery_message

    send_messages([(delivery.queue, delivery_message(delivery))] * 2)
    wait_until(lambda: workers["testapp"].log().count("succeeded") >= 3, what="both duplicates to be acknowledged")
    assert workers["testapp"].log().count("succeeded") == 3
    assert workers["testapp"].log().count("succeeded in") == 3 and "'duplicate'" in workers["testapp"].log()
    assert tally("TWICE") == 5
    assert InboxRecord.objects.count() == 1


def test_events_lost_by_the_broker_are_sent_again_by_the_sweep_and_processed_once(
    worker_factory, clean_queues: BrokerQueues, settings
) -> None:
    # No worker yet: the events wait in the broker, then the broker loses half of them.
    for i in range(20):
        tally_ping(key=f"LOST-{i}" if i % 2 else "KEPT", amount=1)
    assert clean_queues.ready("testapp") == 20
    clean_queues.lose("testapp", 10)  # the oldest ten
    Delivery.objects.update(last_sent_at=timezone.now() - timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER + 1))
    report = sweep()
    assert report.requeued == 20 and report.sent == 20  # nothing was processed: all are re-sent
    assert clean_queues.ready("testapp") == 30  # 10 survivors + 20 re-sent: 10 will be duplicates
    worker_factory(["testapp"])
    wait_until(lambda: InboxRecord.objects.count() == 20, what="all twenty events to be applied")
    wait_until(lambda: clean_queues.ready("testapp") == 0, what="the queue to drain")
    assert tally("KEPT") == 10
    assert all(tally(f"LOST-{i}") == 1 for i in range(1, 20, 2))
    wait_until(
        lambda: set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.PROCESSED},
        what="every delivery confirmed",
    )
    clean_queues.purge()
