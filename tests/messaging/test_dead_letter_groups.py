"""Dead-letter groups: one handler, one message type, one cause per group.

The failures of issue 16: inventory's StockReserved with an order id that is not one reaches
orders' saga handler, and a ReserveStock with a negative quantity reaches inventory's
reservation handler. Both are payloads that fail validation in the decoder: they used to share
one group (error type + innermost project frame), and "Replay 5" replayed both kinds.
"""

from __future__ import annotations

import importlib
import uuid
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connections
from django.test import Client

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox.consumer import Outcome, process
from project.messaging.models import DeadLetter
from project.messaging.operations.selectors import dead_letter_groups
from project.messaging.registry.databases import messaging_databases
from project.messaging.testing import TestBus
from tests.factories.envelopes import raw_envelope
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db

SAGA_HANDLER = "orders.advance_saga_on_stock_reserved"
RESERVATION_HANDLER = "inventory.reserve_order_line"


def all_letters() -> list[DeadLetter]:
    """Every dead letter, from each database that holds some (a consumer's letters are in its own)."""
    return [letter for alias in messaging_databases() for letter in DeadLetter.objects.using(alias).order_by("id")]


def deliver(handler: str, raw: dict) -> None:
    assert process(DeliveryAttempt(envelope=raw, handler=handler)).outcome is Outcome.DEAD_LETTERED


def stock_reserved_with_a_bad_order_id() -> dict:
    line = {"line_id": str(uuid.uuid4()), "sku": "CRUNCHY-ARMCHAIR", "quantity": 1}
    return raw_envelope(
        "inventory.StockReserved", {"order_id": "order-42", **line}, producer="inventory", aggregate_type="reservation"
    )


def reserve_stock_with_a_negative_quantity() -> dict:
    payload = {"order_id": str(uuid.uuid4()), "line_id": str(uuid.uuid4()), "sku": "CRUNCHY-ARMCHAIR", "quantity": -2}
    return raw_envelope("inventory.ReserveStock", payload, producer="orders", aggregate_type="reservation")


@pytest.fixture
def mixed_letters(db: None) -> dict[str, list[DeadLetter]]:
    """Five payload failures: two StockReserved to orders' saga, three ReserveStock to inventory."""
    for _ in range(2):
        deliver(SAGA_HANDLER, stock_reserved_with_a_bad_order_id())
    for _ in range(3):
        deliver(RESERVATION_HANDLER, reserve_stock_with_a_negative_quantity())
    letters = all_letters()
    assert {letter.error_type for letter in letters} == {"project.messaging.contract.errors.InvalidPayload"}
    return {
        SAGA_HANDLER: [letter for letter in letters if letter.handler == SAGA_HANDLER],
        RESERVATION_HANDLER: [letter for letter in letters if letter.handler == RESERVATION_HANDLER],
    }


def test_two_handlers_payload_failures_form_two_groups(mixed_letters) -> None:
    groups = {g.handlers: g for g in dead_letter_groups()}
    assert set(groups) == {(SAGA_HANDLER,), (RESERVATION_HANDLER,)}
    saga, reservation = groups[(SAGA_HANDLER,)], groups[(RESERVATION_HANDLER,)]
    assert (saga.count, saga.event_types) == (2, ("inventory.StockReserved",))
    assert (reservation.count, reservation.event_types) == (3, ("inventory.ReserveStock",))
    assert "order_id" in saga.sample_message and "quantity" in reservation.sample_message
    assert {letter.fingerprint for letter in mixed_letters[SAGA_HANDLER]} == {saga.fingerprint}
    assert {letter.fingerprint for letter in mixed_letters[RESERVATION_HANDLER]} == {reservation.fingerprint}


def test_one_handler_and_type_with_two_different_payload_faults_makes_two_groups(db: None) -> None:
    deliver(RESERVATION_HANDLER, reserve_stock_with_a_negative_quantity())
    no_sku = reserve_stock_with_a_negative_quantity()
    no_sku["payload"] = {**no_sku["payload"], "quantity": 1}
    del no_sku["payload"]["sku"]
    deliver(RESERVATION_HANDLER, no_sku)
    assert len(dead_letter_groups()) == 2


def test_replaying_one_group_from_the_admin_replays_only_its_letters(mixed_letters, admin_client: Client) -> None:
    reservation = next(g for g in dead_letter_groups() if g.handlers == (RESERVATION_HANDLER,))
    page = admin_client.get("/admin/messaging/deadletter/groups/").content.decode()
    assert "Replay 3" in page and "Replay 2" in page and "Replay 5" not in page

    response = admin_client.post(f"/admin/messaging/deadletter/groups/{reservation.fingerprint}/replay/", follow=True)
    assert "Replay sent for 3 dead letter(s)" in response.content.decode()
    by_handler: dict[str, set[tuple[str, int]]] = {}
    for letter in all_letters():
        by_handler.setdefault(letter.handler, set()).add((letter.status, letter.replay_count))
    assert by_handler == {RESERVATION_HANDLER: {("replaying", 1)}, SAGA_HANDLER: {("dead", 0)}}


def test_the_command_lists_the_same_groups_as_the_admin(mixed_letters) -> None:
    out = StringIO()
    call_command("dead_letters", "list", "--groups", stdout=out)
    lines = out.getvalue().splitlines()
    expected = dead_letter_groups()
    assert [line.split("  ")[:4] for line in lines] == [
        [g.fingerprint, f"x{g.count}", ", ".join(g.handlers), ", ".join(g.event_types)] for g in expected
    ]
    out = StringIO()
    call_command("dead_letters", "list", "--groups", "--handler", SAGA_HANDLER, stdout=out)
    assert out.getvalue().split("  ")[:2] == [mixed_letters[SAGA_HANDLER][0].fingerprint, "x2"]


def test_the_data_migration_gives_stored_letters_the_fingerprints_new_failures_get(mixed_letters, bus: TestBus) -> None:
    tally_ping(key="GRUMPY-GOOSE", amount=1, behaviour="permanent")  # a handler's own refusal: by its frame
    tally_ping(key="BUGGY-BADGER", amount=1, behaviour="bug")
    bus.drain()
    live = {(letter._state.db, letter.pk): letter.fingerprint for letter in all_letters()}
    assert len(set(live.values())) == 4
    migration = importlib.import_module("project.messaging.migrations.0003_dead_letter_fingerprint_by_cause")
    for alias in messaging_databases():  # the migration runs on each database
        DeadLetter.objects.using(alias).update(fingerprint="stale")  # as stored before the migration
        migration.recompute(apps, SimpleNamespace(connection=connections[alias]))  # all it reads of the schema editor

    assert {(letter._state.db, letter.pk): letter.fingerprint for letter in all_letters()} == live
