"""replay_events: replaying the event log into a handler, and rebuilding a projection from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from notifications.models import Recipient
from project.messaging.models import DeadLetter, InboxRecord, OutboxEvent
from project.messaging.outbox.publish import publish
from project.messaging.registry import projections
from project.messaging.testing import TestBus
from tests.notifications.helpers import register
from tests.testapp import handlers as testapp_handlers
from tests.testapp.events import Pinged
from tests.testapp.models import Tally
from users import services as users

pytestmark = pytest.mark.django_db

RECIPIENT_HANDLERS = (
    "notifications.add_recipient_when_user_registered",
    "notifications.update_recipient_display_name",
    "notifications.update_recipient_email",
    "notifications.update_recipient_preferences",
)


def replay(*args: str) -> str:
    out = StringIO()
    call_command("replay_events", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def recipients() -> list[tuple]:
    fields = [f.name for f in Recipient._meta.fields if f.name not in ("id", "updated_at")]
    return list(Recipient.objects.order_by("user_id").values_list(*fields))


@pytest.fixture
def readers(bus: TestBus) -> list[tuple]:
    """Three users with a history of changes, delivered shuffled and twice: the projection as built live."""
    bob, ann, cyd = register("bob"), register("ann", new_articles=True), register("cyd", email_format="text")
    users.user_preferences_change(user_id=bob.user_id, new_articles=True)
    users.user_email_change(user_id=ann.user_id, email="ann.lovelace@example.com")
    users.user_profile_update(user_id=cyd.user_id, display_name="Cyd the Cartographer")
    users.user_preferences_change(user_id=bob.user_id, order_updates=False, email_format="text")
    bus.drain(duplicate=True, order="shuffle", seed=11)
    return recipients()


def test_rebuilding_the_recipients_from_scratch_gives_the_same_table(readers: list[tuple]) -> None:
    output = replay("--projection", "notifications.recipients", "--from-scratch")
    assert "reset notifications.recipients" in output
    assert "applied 7, already applied 0, failed 0" in output
    assert recipients() == readers


def test_a_rebuild_repairs_a_projection_that_drifted_from_its_events(readers: list[tuple]) -> None:
    Recipient.objects.filter(display_name="Bob").update(email="wrong@example.com", new_articles=False)
    Recipient.objects.filter(display_name="Ann").delete()
    assert recipients() != readers
    replay(*[arg for name in RECIPIENT_HANDLERS for arg in ("--handler", name)], "--from-scratch")
    assert recipients() == readers


def test_replaying_without_from_scratch_skips_what_the_handler_applied(readers: list[tuple]) -> None:
    output = replay("--handler", "notifications.update_recipient_email")
    assert "1 events: applied 0, already applied 1, failed 0" in output
    assert recipients() == readers


def test_a_dry_run_lists_the_events_in_order_and_changes_nothing(readers: list[tuple]) -> None:
    inbox_before = InboxRecord.objects.count()
    output = replay("--projection", "notifications.recipients", "--from-scratch", "--dry-run")
    assert "would reset notifications.recipients" in output
    assert "dry run: 7 deliveries of 7 events, nothing changed" in output
    lines = [line for line in output.splitlines() if line.startswith("20")]
    assert lines == sorted(lines)  # occurred_at order
    assert (recipients(), InboxRecord.objects.count()) == (readers, inbox_before)


def test_resetting_a_projection_while_replaying_only_one_of_its_handlers_is_refused(readers: list[tuple]) -> None:
    with pytest.raises(CommandError, match="--projection notifications.recipients"):
        replay("--handler", "notifications.update_recipient_email", "--from-scratch")
    assert recipients() == readers


def test_a_rebuild_is_refused_when_the_event_log_lost_events_the_projection_applied(readers: list[tuple]) -> None:
    OutboxEvent.objects.filter(event_type="users.UserEmailChanged").delete()  # as a retention purge would
    with pytest.raises(CommandError, match="no longer holds 1 event"):
        replay("--projection", "notifications.recipients", "--from-scratch")
    assert recipients() == readers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Say which handler"),
        (("--handler", "notifications.no_such_handler"), "Unknown handler notifications.no_such_handler"),
        (("--projection", "notifications.nothing"), "Unknown projection"),
        (("--handler", "notifications.update_recipient_email", "--event-type", "orders.OrderPlaced"), "not subscribed"),
        (("--handler", "notifications.update_recipient_email", "--since", "last tuesday"), "not an ISO 8601"),
        (("--handler", "testapp.add_to_tally", "--from-scratch"), "builds no registered projection"),
        (("--projection", "notifications.recipients", "--from-scratch", "--since", "2026-01-01"), "partial"),
    ],
)
def test_bad_requests_are_clear_errors(db: None, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        replay(*args)


def ping(bus: TestBus, key: str, behaviour: str = "ok") -> None:
    with transaction.atomic():
        publish(Pinged(key=key, amount=1, behaviour=behaviour))
    bus.drain()


def test_an_event_that_fails_again_on_replay_is_dead_lettered_and_the_command_fails(bus: TestBus) -> None:
    ping(bus, "stubborn-stoat", "permanent")
    with pytest.raises(CommandError, match="1 deliveries failed"):
        replay("--handler", "testapp.add_to_tally")
    assert DeadLetter.objects.get().attempts == 2  # the first failure, and the replay's


@pytest.fixture
def tallies_projection() -> Iterator[None]:
    projections.register_projection(
        "testapp", "tallies", handlers=[testapp_handlers.add_to_tally], reset=lambda: Tally.objects.all().delete()
    )
    yield
    projections._projections.pop("testapp.tallies")


def test_a_rebuild_that_fails_half_way_leaves_the_projection_as_it_was(bus: TestBus, tallies_projection) -> None:
    ping(bus, "steady-stoat")
    ping(bus, "stubborn-stoat", "permanent")
    with pytest.raises(CommandError, match="abandoned, nothing changed"):
        replay("--projection", "testapp.tallies", "--from-scratch")
    assert list(Tally.objects.values_list("key", "count")) == [("steady-stoat", 1)]
    assert InboxRecord.objects.filter(handler="testapp.add_to_tally").count() == 1
