"""A consumer on another database than its producer acknowledges by message, never writing the
producer's rows; on one shared database the delivery is still marked in the handler's transaction.

The consumer (testapp) is moved to the "elsewhere" database by a router; its producer is a
stand-in for another domain ("articles", whose deliveries live on the default database): a
testapp.Pinged event written to the default database's outbox as that producer would write it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import current_app
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox.consumer import Outcome
from project.messaging.models import Acknowledgement, DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.outbox import acknowledgements
from project.messaging.outbox.acknowledgements import acknowledgement_queue, apply_acknowledgements
from project.messaging.outbox.relay import send_acknowledgements, sweep
from project.messaging.registry.databases import database_for
from project.messaging.testing import TestBus
from tests.brokers import BrokerQueues
from tests.testapp.models import Tally
from tests.testapp.routers import CONSUMER_DB
from tests.testapp.services import tally_ping

# Every database: "elsewhere" besides the domains' (whose services the bus runs), split or not.
pytestmark = pytest.mark.django_db(databases="__all__")

PRODUCER = "articles"  # its deliveries are on the default database


@pytest.fixture
def split(bus: TestBus, clean_queues: BrokerQueues) -> Iterator[TestBus]:
    with override_settings(DATABASE_ROUTERS=["tests.testapp.routers.TestappElsewhere"]):
        assert database_for("testapp") == CONSUMER_DB
        assert database_for(PRODUCER) == "default"
        yield bus


def produce(key: str, *, amount: int = 1, behaviour: str = "ok", producer: str = PRODUCER) -> Delivery:
    """A Pinged event and its delivery to testapp, in the producer's outbox (the default database)."""
    with transaction.atomic(using="default"):
        event = OutboxEvent.objects.using("default").create(
            event_type="testapp.Pinged",
            schema_version=2,
            producer=producer,
            aggregate_type="tally",
            aggregate_id=key,
            correlation_id=uuid.uuid4(),
            occurred_at=timezone.now(),
            payload={"key": key, "amount": amount, "behaviour": behaviour},
        )
        return Delivery.objects.using("default").create(event=event, handler="testapp.add_to_tally", queue="testapp")


def tally(key: str) -> int:
    found = Tally.objects.using(CONSUMER_DB).filter(key=key).first()
    return found.count if found else 0


def status(delivery: Delivery) -> str:
    return Delivery.objects.using("default").get(pk=delivery.pk).status


def take_from_broker(queue: str) -> list[tuple[str, dict]]:
    """Every message waiting in ``queue``: (task name, kwargs), taken off the broker."""
    app = current_app._get_current_object()
    taken: list[tuple[str, dict]] = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(app.amqp.queues[queue])
        try:
            while True:
                try:
                    message = simple.get(block=True, timeout=0.5)
                except simple.Empty:
                    return taken
                _args, kwargs, _embed = message.decode()
                taken.append((message.headers["task"], kwargs))
                message.ack()
        finally:
            simple.close()


def run_producer_worker(queue: str = PRODUCER) -> list[dict]:
    """What the producer's worker does: run every acknowledgement task waiting in its queue."""
    results = []
    for name, kwargs in take_from_broker(queue):
        assert name == f"{queue}.acknowledge"
        results.append(current_app.tasks[name](**kwargs))
    return results


def test_a_delivery_stays_sent_until_its_acknowledgement_is_handled_then_processed(split: TestBus) -> None:
    delivery = produce("ACK-ONE", amount=3)
    [attempt] = split.take_pending()
    assert "producer_db" not in attempt.task_kwargs()

    assert split.deliver(attempt).outcome is Outcome.PROCESSED
    assert tally("ACK-ONE") == 3
    # The consumer wrote nothing on the producer's database: the delivery is still only sent.
    assert status(delivery) == Delivery.Status.SENT
    assert not InboxRecord.objects.using("default").exists()
    [ack] = Acknowledgement.objects.using(CONSUMER_DB).all()
    assert (ack.producer, ack.delivery_id, ack.outcome) == (PRODUCER, delivery.pk, "processed")

    assert send_acknowledgements(using=CONSUMER_DB) == 1
    assert not Acknowledgement.objects.using(CONSUMER_DB).exists()  # deleted once the broker took it
    assert status(delivery) == Delivery.Status.SENT

    assert run_producer_worker() == [{"processed": 1, "dead_lettered": 0}]
    assert status(delivery) == Delivery.Status.PROCESSED
    assert Delivery.objects.using("default").get(pk=delivery.pk).processed_at is not None


def test_a_duplicate_delivery_acknowledges_again(split: TestBus) -> None:
    delivery = produce("ACK-DUP")
    [attempt] = split.take_pending()
    assert split.deliver(attempt).outcome is Outcome.PROCESSED
    send_acknowledgements(using=CONSUMER_DB)
    take_from_broker(PRODUCER)  # the acknowledgement is lost

    assert split.deliver(attempt).outcome is Outcome.DUPLICATE
    assert tally("ACK-DUP") == 1
    assert Acknowledgement.objects.using(CONSUMER_DB).filter(delivery_id=delivery.pk, outcome="processed").exists()
    send_acknowledgements(using=CONSUMER_DB)
    run_producer_worker()
    assert status(delivery) == Delivery.Status.PROCESSED


def test_a_lost_acknowledgement_costs_one_resend_and_the_effect_is_applied_once(split: TestBus, settings) -> None:
    delivery = produce("ACK-LOST", amount=2)
    [attempt] = split.take_pending()
    assert split.deliver(attempt).outcome is Outcome.PROCESSED
    assert send_acknowledgements(using=CONSUMER_DB) == 1
    assert len(take_from_broker(PRODUCER)) == 1  # dropped: the producer never hears of it

    # The producer's sweep finds it sent long ago and unconfirmed; it does not read the consumer's
    # database (another domain's), so it sends the delivery again.
    Delivery.objects.using("default").filter(pk=delivery.pk).update(
        last_sent_at=timezone.now() - timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER + 1)
    )
    report = sweep(using="default")
    assert (report.requeued, report.confirmed, report.sent) == (1, 0, 1)
    [(name, kwargs)] = take_from_broker("testapp")
    assert name == "testapp.deliver"

    assert split.deliver(DeliveryAttempt(**kwargs)).outcome is Outcome.DUPLICATE
    assert sweep(using=CONSUMER_DB).acknowledged == 1  # the consumer's relay sends the new one
    assert run_producer_worker() == [{"processed": 1, "dead_lettered": 0}]

    assert status(delivery) == Delivery.Status.PROCESSED
    assert tally("ACK-LOST") == 2  # applied once
    assert InboxRecord.objects.using(CONSUMER_DB).count() == 1


def test_acknowledgements_travel_in_batches_one_message_per_producer(split: TestBus, monkeypatch) -> None:
    from_articles = [produce(f"ACK-BATCH-{n}") for n in range(7)]
    from_elsewhere = [produce(f"ACK-FAR-{n}", producer="faraway") for n in range(2)]
    split.drain(acknowledge=False)
    assert Acknowledgement.objects.using(CONSUMER_DB).count() == 9
    monkeypatch.setattr(acknowledgements, "ACKNOWLEDGEMENTS_PER_MESSAGE", 5)

    assert send_acknowledgements(using=CONSUMER_DB) == 9
    # 7 deliveries of articles in messages of up to 5: two messages to its queue; a producer that
    # consumes nothing (no queue of its own) gets its acknowledgements on the messaging queue.
    assert acknowledgement_queue("faraway") == "messaging"
    assert [len(r["processed"]) for _, r in take_from_broker(PRODUCER)] == [5, 2]
    [(name, far)] = take_from_broker("messaging")
    assert name == "messaging.acknowledge"
    assert sorted(far["processed"]) == sorted(d.pk for d in from_elsewhere)

    for name, kwargs in [("articles.acknowledge", {"producer": PRODUCER, "processed": [d.pk for d in from_articles]})]:
        current_app.tasks[name](**kwargs)
    assert {status(d) for d in from_articles} == {Delivery.Status.PROCESSED}


def test_a_dead_letter_is_acknowledged_with_it(split: TestBus) -> None:
    delivery = produce("ACK-DEAD", behaviour="permanent")
    [attempt] = split.take_pending()
    assert split.deliver(attempt).outcome is Outcome.DEAD_LETTERED
    assert DeadLetter.objects.using(CONSUMER_DB).filter(delivery_id=delivery.pk).exists()
    assert status(delivery) == Delivery.Status.SENT
    send_acknowledgements(using=CONSUMER_DB)
    assert run_producer_worker() == [{"processed": 0, "dead_lettered": 1}]
    assert status(delivery) == Delivery.Status.DEAD_LETTERED


def test_applying_acknowledgements_is_idempotent_and_safe_out_of_order(split: TestBus) -> None:
    done, parked, revived = produce("ACK-IDEM-1"), produce("ACK-IDEM-2"), produce("ACK-IDEM-3")
    Delivery.objects.using("default").update(status=Delivery.Status.SENT)
    first = apply_acknowledgements(producer=PRODUCER, processed=[done.pk], dead_lettered=[parked.pk, revived.pk])
    assert (first.processed, first.dead_lettered) == (1, 2)
    # The same batch again: nothing changes.
    again = apply_acknowledgements(producer=PRODUCER, processed=[done.pk], dead_lettered=[parked.pk, revived.pk])
    assert (again.processed, again.dead_lettered) == (0, 0)
    # A late dead-letter acknowledgement does not undo processed; a later processed one (a
    # replay succeeded) closes a dead-lettered delivery; an unknown id is ignored.
    late = apply_acknowledgements(producer=PRODUCER, processed=[revived.pk, 987654], dead_lettered=[done.pk])
    assert (late.processed, late.dead_lettered) == (1, 0)
    assert [status(d) for d in (done, parked, revived)] == ["processed", "dead_lettered", "processed"]


def test_one_shared_database_keeps_the_mark_in_the_handlers_transaction(bus: TestBus) -> None:
    tally_ping(key="ACK-FAST", amount=1)
    [attempt] = bus.take_pending()
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    assert Delivery.objects.get().status == Delivery.Status.PROCESSED
    assert not Acknowledgement.objects.exists()


def test_a_consumer_process_that_does_not_run_the_producer_acknowledges_by_message(
    bus: TestBus, clean_queues: BrokerQueues, settings
) -> None:
    # One database file, but this process runs testapp and not articles (DOMAINS): the producer's
    # delivery row is not this process's to write, so it is told by an acknowledgement.
    settings.PROCESS_DOMAINS = [label for label in settings.DOMAIN_APPS if label != PRODUCER]
    delivery = produce("ACK-NOT-HERE", amount=2)
    [attempt] = bus.take_pending()
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    assert status(delivery) == Delivery.Status.SENT
    [ack] = Acknowledgement.objects.using("default").all()
    assert (ack.producer, ack.delivery_id, ack.outcome) == (PRODUCER, delivery.pk, "processed")


def test_a_message_sent_with_the_old_producer_db_argument_still_decodes(bus: TestBus) -> None:
    tally_ping(key="ACK-OLD", amount=4)
    [attempt] = bus.take_pending()
    old_kwargs = {**attempt.task_kwargs(), "producer_db": "default"}  # the wire format before acknowledgements
    assert current_app.tasks["testapp.deliver"](**old_kwargs) == "processed"
    assert Tally.objects.get(key="ACK-OLD").count == 4
    assert Delivery.objects.get().status == Delivery.Status.PROCESSED


def test_the_test_bus_hands_acknowledgements_to_their_producers(split: TestBus) -> None:
    deliveries = [produce(f"ACK-BUS-{n}") for n in range(3)]
    split.drain()
    assert {status(d) for d in deliveries} == {Delivery.Status.PROCESSED}
    assert not Acknowledgement.objects.using(CONSUMER_DB).exists()
