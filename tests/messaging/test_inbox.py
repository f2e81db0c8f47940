"""The inbox applies each delivery once; retries, dead letters and replays keep it that way."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox.consumer import Outcome, process
from project.messaging.models import DeadLetter, Delivery, InboxRecord
from project.messaging.operations import services
from project.messaging.testing import TestBus
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db


def tally(key: str) -> int:
    found = Tally.objects.filter(key=key).first()
    return found.count if found else 0


def test_the_same_message_delivered_twice_changes_state_once(bus: TestBus) -> None:
    tally_ping(key="CRUNCHY-ARMCHAIR", amount=5)
    handled = bus.drain(duplicate=True)
    assert [h.result.outcome for h in handled] == [Outcome.PROCESSED, Outcome.DUPLICATE]
    assert tally("CRUNCHY-ARMCHAIR") == 5
    assert InboxRecord.objects.count() == 1


def test_a_redelivery_after_processing_is_acknowledged_and_does_nothing(bus: TestBus) -> None:
    tally_ping(key="SHINY-LAMP", amount=1)
    attempt = bus.take_pending()[0]
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    assert bus.deliver(attempt).outcome is Outcome.DUPLICATE
    assert tally("SHINY-LAMP") == 1


def test_a_transient_fault_is_retried_and_then_succeeds(bus: TestBus, settings) -> None:
    settings.MESSAGING_MAX_ATTEMPTS = 4
    tally_ping(key="FLAKY", amount=1, behaviour="transient:2")
    outcomes = [h.result.outcome for h in bus.drain()]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.PROCESSED]
    assert tally("FLAKY") == 1
    assert not DeadLetter.objects.exists()


def test_retries_use_exponential_backoff_with_jitter_under_a_cap(settings) -> None:
    from project.messaging.inbox.consumer import retry_countdown

    settings.MESSAGING_RETRY_BACKOFF, settings.MESSAGING_RETRY_BACKOFF_MAX = 1.0, 10.0
    assert all(0.5 <= retry_countdown(1) <= 1.0 for _ in range(50))
    assert all(4.0 <= retry_countdown(4) <= 8.0 for _ in range(50))
    assert all(5.0 <= retry_countdown(20) <= 10.0 for _ in range(50))


def test_a_permanent_fault_is_dead_lettered_at_once_with_its_reason(bus: TestBus) -> None:
    tally_ping(key="GRUMPY", amount=1, behaviour="permanent")
    assert [h.result.outcome for h in bus.drain()] == [Outcome.DEAD_LETTERED]
    letter = DeadLetter.objects.get()
    assert letter.handler == "testapp.add_to_tally"
    assert letter.event_type == "testapp.Pinged"
    assert letter.error_type == "project.messaging.contract.errors.PermanentError"
    assert letter.error_message == "tally GRUMPY refuses this ping"
    assert "raise PermanentError" in letter.traceback
    assert (letter.attempts, letter.permanent, letter.status) == (1, True, DeadLetter.Status.DEAD)
    assert letter.envelope["payload"]["key"] == "GRUMPY"
    assert Delivery.objects.get().status == Delivery.Status.DEAD_LETTERED
    assert tally("GRUMPY") == 0 and not InboxRecord.objects.exists()


def test_an_exhausted_transient_fault_is_dead_lettered_after_the_configured_attempts(bus: TestBus, settings) -> None:
    settings.MESSAGING_MAX_ATTEMPTS = 3
    tally_ping(key="DOWN", amount=1, behaviour="transient:99")
    assert [h.result.outcome for h in bus.drain()] == [Outcome.RETRY, Outcome.RETRY, Outcome.DEAD_LETTERED]
    letter = DeadLetter.objects.get()
    assert (letter.attempts, letter.permanent) == (3, False)
    assert letter.error_type == "project.messaging.contract.errors.RetryableError"
    assert letter.first_failed_at <= letter.last_failed_at


def test_a_bug_in_a_handler_is_dead_lettered_at_once(bus: TestBus) -> None:
    tally_ping(key="BUGGY", amount=1, behaviour="bug")
    bus.drain()
    assert DeadLetter.objects.get().error_type == "builtins.KeyError"


def test_equal_failures_share_a_fingerprint_and_different_ones_do_not(bus: TestBus) -> None:
    for key in ("GRUMPY-1", "GRUMPY-2"):
        tally_ping(key=key, amount=1, behaviour="permanent")
    tally_ping(key="BUGGY", amount=1, behaviour="bug")
    bus.drain()
    prints = dict(DeadLetter.objects.values_list("envelope__payload__key", "fingerprint"))
    assert prints["GRUMPY-1"] == prints["GRUMPY-2"] != prints["BUGGY"]


def deliver_raw(envelope: dict, handler: str = "testapp.add_to_tally") -> Outcome:
    return process(DeliveryAttempt(envelope=envelope, handler=handler)).outcome


def raw_envelope(**changes: object) -> dict:
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": "testapp.Pinged",
        "schema_version": 2,
        "occurred_at": timezone.now().isoformat(),
        "producer": "testapp",
        "aggregate_type": "tally",
        "aggregate_id": "X",
        "correlation_id": event_id,
        "payload": {"key": "X", "amount": 1},
    } | changes


@pytest.mark.parametrize(
    ("changes", "error_type", "reason"),
    [
        ({"payload": {"key": "X", "amount": "lots"}}, "InvalidPayload", "amount: Input should be a valid integer"),
        ({"event_type": "testapp.Teleported"}, "UnknownEventType", "Unknown event type 'testapp.Teleported'"),
        ({"schema_version": 9}, "UnsupportedSchemaVersion", "v9 is newer than this code understands"),
        ({"event_id": "not-a-uuid"}, "InvalidPayload", "Malformed envelope: event_id"),
    ],
    ids=["invalid-payload", "unknown-type", "unknown-version", "malformed-envelope"],
)
def test_a_poison_message_is_dead_lettered_at_once_with_the_reason(changes, error_type, reason) -> None:
    assert deliver_raw(raw_envelope(**changes)) is Outcome.DEAD_LETTERED
    letter = DeadLetter.objects.get()
    assert letter.error_type == f"project.messaging.contract.errors.{error_type}"
    assert reason in letter.error_message
    assert letter.attempts == 1 and letter.permanent
    assert tally("X") == 0


def test_a_message_for_an_unknown_handler_is_dead_lettered() -> None:
    assert deliver_raw(raw_envelope(), handler="testapp.renamed_handler") is Outcome.DEAD_LETTERED
    assert "No handler 'testapp.renamed_handler'" in DeadLetter.objects.get().error_message


def test_a_replayed_dead_letter_applies_once_after_the_cause_is_fixed(bus: TestBus, settings) -> None:
    settings.MESSAGING_MAX_ATTEMPTS = 2
    tally_ping(key="LATE", amount=4, behaviour="transient:2")  # fails twice: exhausted at 2 attempts
    bus.drain()
    letter = DeadLetter.objects.get()
    # The cause passed (the third attempt succeeds); the operator replays it, twice by mistake.
    replayed = services.dead_letter_replay(dead_letter_id=letter.pk, inline=True)
    assert (replayed.status, replayed.replay_count) == (DeadLetter.Status.RESOLVED, 1)
    with pytest.raises(services.DeadLetterStateError, match="resolved"):
        services.dead_letter_replay(dead_letter_id=letter.pk, inline=True)
    assert tally("LATE") == 4
    assert Delivery.objects.get().status == Delivery.Status.PROCESSED


def test_a_replay_that_fails_again_updates_the_same_dead_letter(bus: TestBus) -> None:
    tally_ping(key="STUBBORN", amount=1, behaviour="permanent")
    bus.drain()
    letter = DeadLetter.objects.get()
    again = services.dead_letter_replay(dead_letter_id=letter.pk, inline=True)
    assert DeadLetter.objects.count() == 1
    assert (again.status, again.replay_count, again.attempts) == (DeadLetter.Status.DEAD, 1, 2)


def test_replaying_a_letter_whose_event_was_applied_meanwhile_closes_it_without_running_it(bus: TestBus) -> None:
    tally_ping(key="RACE", amount=1, behaviour="permanent")
    bus.drain()
    letter = DeadLetter.objects.get()
    InboxRecord.objects.create(handler=letter.handler, event_id=letter.event_id, event_type=letter.event_type)
    assert services.dead_letter_replay(dead_letter_id=letter.pk).status == DeadLetter.Status.RESOLVED
    assert tally("RACE") == 0


def test_discarding_a_dead_letter_needs_a_reason_and_keeps_the_row(bus: TestBus) -> None:
    tally_ping(key="JUNK", amount=1, behaviour="permanent")
    bus.drain()
    letter = DeadLetter.objects.get()
    with pytest.raises(services.DeadLetterStateError, match="reason is required"):
        services.dead_letter_discard(dead_letter_id=letter.pk, reason="  ")
    discarded = services.dead_letter_discard(dead_letter_id=letter.pk, reason="test data, customer deleted")
    assert (discarded.status, discarded.discard_reason) == (DeadLetter.Status.DISCARDED, "test data, customer deleted")
    assert DeadLetter.objects.filter(pk=letter.pk).exists()


def test_the_dead_letters_command_lists_replays_and_refuses_bad_requests(bus: TestBus, capsys) -> None:
    tally_ping(key="CMD", amount=1, behaviour="permanent")
    bus.drain()
    letter = DeadLetter.objects.get()
    call_command("dead_letters", "list", "--groups")
    assert f"{letter.fingerprint}  x1  testapp.add_to_tally" in capsys.readouterr().out
    with pytest.raises(CommandError, match="say which dead letters"):
        call_command("dead_letters", "replay")
    with pytest.raises(CommandError, match="No open dead letter with id 999"):
        call_command("dead_letters", "replay", "999")
    with pytest.raises(CommandError, match="needs --reason"):
        call_command("dead_letters", "discard", str(letter.pk))
    with pytest.raises(CommandError, match="could not be replayed"):  # the cause is still there
        call_command("dead_letters", "replay", "--fingerprint", letter.fingerprint, "--inline")
    letter.refresh_from_db()
    assert letter.replay_count == 1


def test_messages_delivered_in_shuffled_order_and_twice_reach_the_same_state(bus: TestBus) -> None:
    for i in range(10):
        tally_ping(key="MANY", amount=i + 1)
    bus.drain(duplicate=True, order="shuffle", seed=3)
    assert tally("MANY") == sum(range(1, 11))


def test_purge_deletes_old_processed_rows_and_keeps_open_ones(bus: TestBus) -> None:
    tally_ping(key="OLD", amount=1)
    bus.drain()
    tally_ping(key="OPEN", amount=1)  # still pending: must survive any purge
    purged = services.messaging_purge_expired(older_than_days=0)
    assert purged["outbox_events"] >= 2  # the processed Pinged and its Ponged
    assert purged["inbox_records"] == 1
    assert Delivery.objects.get().status == Delivery.Status.PENDING


def test_a_replay_sent_to_the_broker_says_it_failed_before_so_its_success_closes_the_letter(
    bus: TestBus, settings, django_capture_on_commit_callbacks
) -> None:
    settings.MESSAGING_MAX_ATTEMPTS = 2
    tally_ping(key="VIA-BROKER", amount=2, behaviour="transient:2")
    bus.drain()
    letter = DeadLetter.objects.get()
    sent: list[tuple[str, dict]] = []
    with pytest.MonkeyPatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(services, "send_messages", sent.extend)
        services.dead_letter_replay(dead_letter_id=letter.pk)
    [(_queue, kwargs)] = sent
    assert kwargs["first_failed_at"] == letter.first_failed_at.isoformat()
    # As the worker would run it: a first attempt of a delivery that failed before.
    assert process(DeliveryAttempt(**kwargs)).outcome is Outcome.PROCESSED
    assert DeadLetter.objects.get().status == DeadLetter.Status.RESOLVED
    assert tally("VIA-BROKER") == 2


def test_a_copy_arriving_after_another_copy_was_applied_closes_a_dead_letter_left_behind(bus: TestBus) -> None:
    tally_ping(key="TWO-COPIES", amount=1)
    [attempt] = bus.take_pending()
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    # A sibling copy of the message had been dead-lettered (say its attempts ran out while the
    # database was away); the next copy finds the event applied and the letter is closed.
    DeadLetter.objects.create(
        handler=attempt.handler,
        event_id=attempt.envelope["event_id"],
        queue="testapp",
        event_type="testapp.Pinged",
        envelope=attempt.envelope,
        error_type="django.db.OperationalError",
        error_message="database unavailable",
        fingerprint="x",
        permanent=False,
        first_failed_at=timezone.now(),
        last_failed_at=timezone.now(),
    )
    assert bus.deliver(attempt).outcome is Outcome.DUPLICATE
    assert DeadLetter.objects.get().status == DeadLetter.Status.RESOLVED
    assert tally("TWO-COPIES") == 1
