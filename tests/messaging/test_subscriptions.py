"""Start-up validation of SUBSCRIPTIONS maps: a bad map is refused with a message naming it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from pydantic import BaseModel

from orders.events import OrderPlaced
from project.messaging.contract.errors import SubscriptionError
from project.messaging.contract.events import Event
from project.messaging.registry import routing
from tests.testapp.events import Pinged


@pytest.fixture
def empty_registry() -> Iterator[None]:
    previous = routing.reset_for_tests()
    yield
    routing.reset_for_tests(previous)


def handle_one(event: Pinged) -> None: ...


def handle_other(event: Pinged) -> None: ...


class NotAnEvent(BaseModel):
    key: str


class UnregisteredEvent(Event):
    key: str


@pytest.mark.usefixtures("empty_registry")
class TestSubscribeRefuses:
    def test_a_key_that_is_not_a_message_class(self) -> None:
        with pytest.raises(SubscriptionError, match="testapp.handlers.SUBSCRIPTIONS: key .*NotAnEvent"):
            routing.subscribe("testapp", {NotAnEvent: [handle_one]})

    def test_an_event_class_without_registration(self) -> None:
        with pytest.raises(SubscriptionError, match="UnregisteredEvent is not a registered event"):
            routing.subscribe("testapp", {UnregisteredEvent: [handle_one]})

    def test_the_same_handler_twice_for_one_event(self) -> None:
        with pytest.raises(SubscriptionError, match="handler testapp.handle_one is listed twice"):
            routing.subscribe("testapp", {Pinged: [handle_one, handle_one]})

    def test_two_functions_with_one_name(self) -> None:
        def handle_one(event: OrderPlaced) -> None: ...  # noqa: F811  (the clash under test)

        with pytest.raises(SubscriptionError, match="duplicate handler name testapp.handle_one"):
            routing.subscribe("testapp", {Pinged: [globals()["handle_one"]], OrderPlaced: [handle_one]})

    def test_a_queue_no_worker_route_serves(self) -> None:
        with pytest.raises(SubscriptionError, match="no worker route serves queue 'warehouse'"):
            routing.subscribe("warehouse", {Pinged: [handle_one]})

    def test_a_handler_that_is_not_a_function(self) -> None:
        with pytest.raises(SubscriptionError, match="is not a function"):
            routing.subscribe("testapp", {Pinged: ["handle_one"]})

    def test_a_handler_with_the_wrong_signature(self) -> None:
        def takes_two(event: Pinged, extra: int) -> None: ...

        with pytest.raises(SubscriptionError, match="takes_two must take exactly one argument"):
            routing.subscribe("testapp", {Pinged: [takes_two]})

    def test_a_lambda(self) -> None:
        with pytest.raises(SubscriptionError, match="lambda has no stable name"):
            routing.subscribe("testapp", {Pinged: [lambda e: None]})

    def test_a_list_given_as_a_single_handler(self) -> None:
        with pytest.raises(SubscriptionError, match="must be a list of handlers"):
            routing.subscribe("testapp", {Pinged: handle_one})

    def test_nothing_is_registered_when_the_map_is_refused(self) -> None:
        with pytest.raises(SubscriptionError):
            routing.subscribe("testapp", {Pinged: [handle_one], UnregisteredEvent: [handle_other]})
        assert routing.all_subscriptions() == []


def test_a_valid_map_registers_one_subscription_per_event_and_handler(empty_registry: None) -> None:
    routing.subscribe("testapp", {Pinged: [handle_one, handle_other]})
    assert [(s.event_type, s.handler_name, s.queue) for s in routing.all_subscriptions()] == [
        ("testapp.Pinged", "testapp.handle_one", "testapp"),
        ("testapp.Pinged", "testapp.handle_other", "testapp"),
    ]


def test_the_project_passes_its_own_system_checks() -> None:
    call_command("check", fail_level="WARNING")


def test_the_system_check_flags_an_event_class_without_registration() -> None:
    from project.messaging.registry.checks import check_messages_registered

    stray = type("StrayEvent", (Event,), {"__module__": "tests.testapp.events", "__annotations__": {"key": str}})
    try:
        found = [(m.id, m.msg) for m in check_messages_registered()]
    finally:
        stray.__name__ = "_StrayEvent"  # private names are not checked: hide it from later checks
    assert ("messaging.E001", "tests.testapp.events.StrayEvent has no registered type name and version.") in found
