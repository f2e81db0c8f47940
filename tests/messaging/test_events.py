"""Messages, the envelope, the registry and upcasters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone

from orders.events import OrderPlaced
from project.messaging.contract import events
from project.messaging.contract.errors import (
    EventDefinitionError,
    InvalidPayload,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from project.messaging.contract.events import Envelope, Event, current_type_name, decode, message_class, message_type
from tests.testapp.events import Pinged


def envelope_for(event_type: str, version: int, payload: dict) -> Envelope:
    event_id = uuid.uuid4()
    return Envelope(
        event_id=event_id,
        event_type=event_type,
        schema_version=version,
        occurred_at=timezone.now(),
        producer=event_type.split(".")[0],
        aggregate_type="tally",
        aggregate_id="x",
        correlation_id=event_id,
        payload=payload,
    )


def test_an_event_has_a_stable_type_name_version_and_aggregate() -> None:
    assert OrderPlaced.event_type == "orders.OrderPlaced"
    assert OrderPlaced.schema_version == 1
    assert OrderPlaced.aggregate_type == "order"
    assert message_class("orders.OrderPlaced") is OrderPlaced


def test_events_are_immutable() -> None:
    event = Pinged(key="CRUNCHY-ARMCHAIR", amount=1)
    with pytest.raises(Exception, match="frozen"):
        event.amount = 2  # type: ignore[misc]


def test_an_envelope_survives_a_json_round_trip_with_decimals_as_strings() -> None:
    line = {"line_id": str(uuid.uuid4()), "sku": "WOBBLY-TABLE", "quantity": 2, "unit_price": "9.99"}
    order_id = uuid.uuid4()
    event = OrderPlaced(order_id=order_id, customer_id=7, lines=[line], total="19.98")
    payload = event.payload()
    assert payload["total"] == "19.98" and payload["lines"][0]["unit_price"] == "9.99"
    envelope = envelope_for("orders.OrderPlaced", 1, payload)
    again = Envelope.from_json(envelope.to_json())
    assert decode(again) == event


def test_an_older_schema_version_is_upcast_to_the_current_one() -> None:
    decoded = decode(envelope_for("testapp.Pinged", 1, {"key": "RARE-VASE", "times": 3}))
    assert decoded == Pinged(key="RARE-VASE", amount=3)


def test_a_newer_schema_version_than_the_code_is_refused() -> None:
    with pytest.raises(UnsupportedSchemaVersion, match="v3 is newer"):
        decode(envelope_for("testapp.Pinged", 3, {"key": "RARE-VASE", "amount": 1}))


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType, match="orders.OrderTeleported"):
        decode(envelope_for("orders.OrderTeleported", 1, {}))


def test_a_payload_that_fails_validation_names_the_field() -> None:
    with pytest.raises(InvalidPayload, match="amount"):
        decode(envelope_for("testapp.Pinged", 2, {"key": "RARE-VASE", "amount": 0}))


def test_consumers_ignore_fields_they_do_not_know() -> None:
    decoded = decode(envelope_for("testapp.Pinged", 2, {"key": "K", "amount": 1, "colour": "red"}))
    assert decoded == Pinged(key="K", amount=1)


def test_a_malformed_envelope_is_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayload, match="event_id"):
        Envelope.from_json({"event_type": "testapp.Pinged"})


@pytest.fixture
def registry_restored() -> Iterator[None]:
    saved = dict(events._registry), dict(events._aliases)
    yield
    events._registry.clear(), events._registry.update(saved[0])
    events._aliases.clear(), events._aliases.update(saved[1])


def test_a_renamed_type_keeps_its_former_name_understood_and_refuses_taking_another_one(registry_restored) -> None:
    @message_type("testapp.Renamed", version=1, aggregate="tally", aggregate_id="key", formerly=("oldapp.Renamed",))
    class Renamed(Event):
        key: str

    assert current_type_name("oldapp.Renamed") == "testapp.Renamed"
    assert decode(envelope_for("oldapp.Renamed", 1, {"key": "x"})) == Renamed(key="x")
    assert current_type_name("testapp.Pinged") == "testapp.Pinged"
    with pytest.raises(EventDefinitionError, match="already names another"):
        message_type("testapp.Other", version=1, aggregate="tally", aggregate_id="key", formerly=("oldapp.Renamed",))
    with pytest.raises(EventDefinitionError, match="already names another"):
        message_type("testapp.Other", version=1, aggregate="tally", aggregate_id="key", formerly=("testapp.Pinged",))
