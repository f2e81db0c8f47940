"""The transactional outbox: an event exists if and only if its state change committed."""

from __future__ import annotations

import pytest
from django.db import transaction

from project.messaging.contract.errors import NotInTransaction
from project.messaging.models import Delivery, OutboxEvent
from project.messaging.outbox.publish import publish
from project.messaging.testing import TestBus
from tests.testapp.events import Pinged, Ponged
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db


def test_publishing_outside_a_transaction_fails_loudly() -> None:
    # The test itself runs in a transaction; leave it to be outside any.
    with pytest.raises(NotInTransaction, match="outside a transaction"):
        transaction.get_connection().in_atomic_block = False
        try:
            publish(Pinged(key="LONELY", amount=1))
        finally:
            transaction.get_connection().in_atomic_block = True


def test_a_service_that_raises_after_publishing_leaves_neither_its_rows_nor_the_event(bus: TestBus) -> None:
    with pytest.raises(RuntimeError, match="failed after publishing"):
        tally_ping(key="CRUNCHY-ARMCHAIR", amount=2, fail_after_publish=True)
    assert not Tally.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not Delivery.objects.exists()


def test_a_service_that_commits_leaves_its_rows_and_one_delivery_per_subscriber(bus: TestBus) -> None:
    tally_ping(key="CRUNCHY-ARMCHAIR", amount=2)
    assert Tally.objects.get(key="source-CRUNCHY-ARMCHAIR").count == 2
    event = OutboxEvent.objects.get()
    assert (event.event_type, event.schema_version, event.producer) == ("testapp.Pinged", 2, "testapp")
    assert (event.aggregate_type, event.aggregate_id) == ("tally", "CRUNCHY-ARMCHAIR")
    assert event.payload == {"key": "CRUNCHY-ARMCHAIR", "amount": 2, "behaviour": "ok"}
    assert list(event.deliveries.values_list("handler", "queue", "status")) == [
        ("testapp.add_to_tally", "testapp", "pending")
    ]


def test_the_event_reaches_every_subscriber_and_its_consequences_carry_correlation_and_causation(
    bus: TestBus,
) -> None:
    tally_ping(key="WOBBLY-TABLE", amount=3)
    bus.drain()
    assert Tally.objects.get(key="WOBBLY-TABLE").count == 3
    pinged = OutboxEvent.objects.get(event_type=Pinged.event_type)
    ponged = OutboxEvent.objects.get(event_type=Ponged.event_type)
    assert pinged.correlation_id == pinged.event_id
    assert ponged.correlation_id == pinged.event_id
    assert ponged.causation_id == pinged.event_id
    assert pinged.deliveries.get().status == Delivery.Status.PROCESSED


def test_an_event_without_subscribers_is_logged_but_has_no_delivery(bus: TestBus) -> None:
    with transaction.atomic():
        publish(Ponged(key="NOBODY-LISTENS"))
    assert OutboxEvent.objects.filter(event_type="testapp.Ponged").count() == 1
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)  # two real transactions, not savepoints of the test's
def test_events_published_in_one_transaction_outside_any_context_share_a_correlation_id(settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False
    with transaction.atomic():
        first = publish(Ponged(key="ONE"))
        second = publish(Ponged(key="TWO"))
    with transaction.atomic():
        third = publish(Ponged(key="THREE"))
    assert first.correlation_id == first.event_id
    assert second.correlation_id == first.event_id
    assert third.correlation_id == third.event_id  # a new transaction starts a new story
