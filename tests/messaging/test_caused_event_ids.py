"""Ids of what a handler publishes: derived from the event it handles, so applying that event
again (a retry, a replay, a redelivery to a database restored from a backup) publishes the same
ids, and downstream inboxes drop what they already applied."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from project.messaging.contract.context import caused_event_id, handling
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.contract.events import Envelope
from project.messaging.inbox import consumer
from project.messaging.models import InboxRecord, OutboxEvent
from project.messaging.operations import services
from project.messaging.outbox.publish import publish
from project.messaging.registry import projections
from project.messaging.testing import TestBus
from tests.testapp import handlers
from tests.testapp.events import Pinged, Ponged
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db

HANDLER = "testapp.add_to_tally"


def an_envelope() -> Envelope:
    event_id = uuid.uuid4()
    return Envelope(
        event_id=event_id,
        event_type=Pinged.event_type,
        schema_version=Pinged.schema_version,
        occurred_at=timezone.now(),
        producer="testapp",
        aggregate_type="tally",
        aggregate_id="ROSY-RUG",
        correlation_id=event_id,
        payload={"key": "ROSY-RUG", "amount": 1, "behaviour": "ok"},
    )


def test_what_a_handler_publishes_has_the_id_derived_from_the_event_it_handles(bus: TestBus) -> None:
    tally_ping(key="WOBBLY-TABLE", amount=2)
    bus.drain()
    pinged = OutboxEvent.objects.get(event_type=Pinged.event_type)
    ponged = OutboxEvent.objects.get(event_type=Ponged.event_type)
    assert ponged.event_id == uuid.uuid5(pinged.event_id, f"{HANDLER}:testapp.Ponged:tally:WOBBLY-TABLE:0")
    assert pinged.event_id.version == 4  # published by a service outside any handler: random


def test_applying_an_event_again_after_its_effects_were_lost_publishes_the_same_ids(bus: TestBus) -> None:
    tally_ping(key="CRUNCHY-ARMCHAIR", amount=3)
    bus.drain()
    pinged = OutboxEvent.objects.get(event_type=Pinged.event_type)
    first = OutboxEvent.objects.get(event_type=Ponged.event_type).event_id
    # What a restore from a backup taken before the handling does to the consumer's database: its
    # inbox record, its effect and what it published are gone.
    InboxRecord.objects.filter(handler=HANDLER, event_id=pinged.event_id).delete()
    Tally.objects.filter(key="CRUNCHY-ARMCHAIR").delete()
    OutboxEvent.objects.filter(event_id=first).delete()

    result = consumer.process(DeliveryAttempt(envelope=pinged.envelope().to_json(), handler=HANDLER))

    assert result.outcome is consumer.Outcome.PROCESSED
    assert Tally.objects.get(key="CRUNCHY-ARMCHAIR").count == 3
    assert list(OutboxEvent.objects.filter(event_type=Ponged.event_type).values_list("event_id", flat=True)) == [first]


def test_an_attempt_that_rolled_back_and_its_retry_publish_the_same_ids() -> None:
    envelope = an_envelope()
    published: list[uuid.UUID] = []
    for _attempt in range(2):
        with transaction.atomic(), handling(envelope, handler=HANDLER):
            published.append(publish(Ponged(key="ROSY-RUG")).event_id)
            transaction.set_rollback(True)  # the first attempt failed; the second as well, to compare
    assert published[0] == published[1]
    assert not OutboxEvent.objects.exists()


def test_another_handler_type_aggregate_or_position_gets_another_id() -> None:
    envelope = an_envelope()
    with handling(envelope, handler="inventory.reserve_order_line"):
        reserved = caused_event_id("inventory.StockReserved", "order", "A")
        second = caused_event_id("inventory.StockReserved", "order", "A")  # the second of one handling
        other_aggregate = caused_event_id("inventory.StockReserved", "order", "B")
        failed = caused_event_id("inventory.StockReservationFailed", "order", "A")  # a different decision
    with handling(envelope, handler="inventory.commit_order_line"):
        other_handler = caused_event_id("inventory.StockReserved", "order", "A")
    with handling(an_envelope(), handler="inventory.reserve_order_line"):
        other_cause = caused_event_id("inventory.StockReserved", "order", "A")
    ids = [reserved, second, other_aggregate, failed, other_handler, other_cause]
    assert None not in ids
    assert len(set(ids)) == len(ids)
    with handling(envelope, handler="inventory.reserve_order_line"):  # the same handling again
        assert caused_event_id("inventory.StockReserved", "order", "A") == reserved
        assert caused_event_id("inventory.StockReserved", "order", "A") == second


def test_outside_a_handler_there_is_no_derived_id_and_publish_draws_a_random_one() -> None:
    assert caused_event_id("testapp.Ponged", "tally", "ROSY-RUG") is None
    with transaction.atomic():
        ids = {publish(Ponged(key="ROSY-RUG")).event_id for _ in range(2)}
    assert len(ids) == 2
    assert {event_id.version for event_id in ids} == {4}


def test_a_projection_rebuilt_from_scratch_publishes_nothing_again(bus: TestBus) -> None:
    projections.register_projection(
        "testapp", "tallies", handlers=[handlers.add_to_tally], reset=lambda: Tally.objects.all().delete()
    )
    try:
        tally_ping(key="STEADY-STOAT", amount=2)
        bus.drain()
        before = set(OutboxEvent.objects.filter(event_type=Ponged.event_type).values_list("event_id", flat=True))

        report = services.events_replay(handlers=[HANDLER], from_scratch=True)
    finally:
        projections._projections.pop("testapp.tallies")

    assert report.applied == 1
    assert Tally.objects.get(key="STEADY-STOAT").count == 2
    # The handler published its Ponged again under the same id: recognised, not recorded twice.
    assert set(OutboxEvent.objects.filter(event_type=Ponged.event_type).values_list("event_id", flat=True)) == before
    assert len(before) == 1
