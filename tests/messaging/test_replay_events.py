"""replay_events: replaying the event log into a handler, and rebuilding a projection from scratch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from notifications.models import Recipient
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox import consumer
from project.messaging.models import ProjectionRebuild
from project.messaging.operations import selectors
from project.messaging.outbox.publish import publish
from project.messaging.registry import projections
from project.messaging.testing import TestBus
from tests.conftest import REPO, test_database_env, wait_until
from tests.messaging_rows import dead_letters, inbox_records, outbox_events, projection_rebuilds
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
    inbox_before = inbox_records("notifications").count()
    output = replay("--projection", "notifications.recipients", "--from-scratch", "--dry-run")
    assert "would reset notifications.recipients" in output
    assert "dry run: 7 deliveries of 7 events, nothing changed" in output
    lines = [line for line in output.splitlines() if line.startswith("20")]
    assert lines == sorted(lines)  # occurred_at order
    assert (recipients(), inbox_records("notifications").count()) == (readers, inbox_before)


def test_resetting_a_projection_while_replaying_only_one_of_its_handlers_is_refused(readers: list[tuple]) -> None:
    with pytest.raises(CommandError, match="--projection notifications.recipients"):
        replay("--handler", "notifications.update_recipient_email", "--from-scratch")
    assert recipients() == readers


def test_a_rebuild_is_refused_when_the_event_log_lost_events_the_projection_applied(readers: list[tuple]) -> None:
    outbox_events("users").filter(event_type="users.UserEmailChanged").delete()  # as a retention purge would
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
    assert dead_letters("testapp").get().attempts == 2  # the first failure, and the replay's


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
    assert inbox_records("testapp").filter(handler="testapp.add_to_tally").count() == 1


# --- Rebuilding in batches, with a checkpoint ------------------------------------------------

PINGS = ["steady-stoat", "merry-marmot", "steady-stoat", "lucky-lynx", "merry-marmot", "steady-stoat", "lucky-lynx"]


@pytest.fixture
def tallies(bus: TestBus, tallies_projection) -> list[tuple[str, int]]:
    """Seven pings of three keys, applied live: the tallies every rebuild must give back."""
    for key in PINGS:
        ping(bus, key)
    return tally_counts()


def tally_counts() -> list[tuple[str, int]]:
    return list(Tally.objects.order_by("key").values_list("key", "count"))


def rebuild_checkpoint() -> ProjectionRebuild:
    return projection_rebuilds("testapp").get(projection="testapp.tallies")


def interrupt_after(monkeypatch: pytest.MonkeyPatch, deliveries: int, interruption: str) -> None:
    """Let ``deliveries`` deliveries through, then stop the next one: "ctrl-c" (the KeyboardInterrupt
    of SIGINT), "kill" (a real SIGTERM to this process) or "failure" (a transient fault)."""
    real_process = consumer.process
    calls = []

    def process(attempt: DeliveryAttempt) -> consumer.Result:
        calls.append(attempt)
        if len(calls) == deliveries + 1:
            if interruption == "ctrl-c":
                raise KeyboardInterrupt
            if interruption == "kill":
                os.kill(os.getpid(), signal.SIGTERM)
            return consumer.Result(consumer.Outcome.RETRY, error="OperationalError('database is locked')")
        return real_process(attempt)

    monkeypatch.setattr(consumer, "process", process)


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_in_batches_commits_one_transaction_per_batch(
    tallies: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = []
    real_commit = connection.commit
    monkeypatch.setattr(connection, "commit", lambda: (commits.append(1), real_commit())[1])
    output = replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    assert len(commits) == 4  # 7 deliveries in batches of 2: the reset rides in the first
    assert "rebuilt testapp.tallies in 4 transactions" in output
    assert tally_counts() == tallies
    checkpoint = rebuild_checkpoint()
    assert (checkpoint.finished, checkpoint.batches_committed, checkpoint.deliveries_done) == (True, 4, 7)


@pytest.mark.parametrize("interruption", ["ctrl-c", "kill"])
def test_an_interrupted_rebuild_is_claimed_unfinished_and_resuming_it_gives_the_uninterrupted_result(
    tallies: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch, interruption: str
) -> None:
    interrupt_after(monkeypatch, 5, interruption)  # in the third batch
    with pytest.raises(CommandError, match=r"stopped after 4 of 7 deliveries \(2 batches committed\)") as stopped:
        replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    assert stopped.value.returncode == 130
    # The third batch rolled back whole; what is there is claimed incomplete, not complete.
    assert sum(count for _, count in tally_counts()) == 4
    assert inbox_records("testapp").filter(handler="testapp.add_to_tally").count() == 4
    assert not rebuild_checkpoint().finished
    assert [r.projection for r in selectors.projection_rebuilds_unfinished()] == ["testapp.tallies"]

    monkeypatch.undo()
    output = replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    assert "resumed the unfinished rebuild of testapp.tallies: 4 deliveries were already committed" in output
    assert "applied 3, already applied 0" in output  # each event applied once over the two runs
    assert tally_counts() == tallies
    assert rebuild_checkpoint().finished and selectors.projection_rebuilds_unfinished() == []


def test_a_rebuild_stopped_by_a_failure_in_a_later_batch_says_so_and_resumes_once_it_passes(
    tallies: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_after(monkeypatch, 3, "failure")  # the fourth delivery fails (a transient fault, say)
    with pytest.raises(CommandError, match="stopped after 2 of 7 deliveries: testapp.add_to_tally failed on"):
        replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    checkpoint = rebuild_checkpoint()
    assert (checkpoint.finished, checkpoint.deliveries_done) == (False, 2)
    assert "database is locked" in checkpoint.last_error
    assert not dead_letters("testapp").exists()  # the failing batch rolled back, its dead letter with it

    monkeypatch.undo()
    replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    assert tally_counts() == tallies
    assert rebuild_checkpoint().finished and rebuild_checkpoint().last_error == ""


def test_restart_starts_an_unfinished_rebuild_over(
    tallies: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_after(monkeypatch, 3, "ctrl-c")
    with pytest.raises(CommandError, match="Interrupted"):
        replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "2")
    monkeypatch.undo()
    output = replay("--projection", "testapp.tallies", "--from-scratch", "--restart")
    assert "reset testapp.tallies, deleted 2 inbox records" in output
    assert "applied 7" in output
    assert tally_counts() == tallies


@override_settings(PROGRESS_LINE_INTERVAL=0)
def test_a_rebuild_shows_progress_lines_when_stdout_is_not_a_terminal(tallies: list[tuple[str, int]]) -> None:
    output = replay("--projection", "testapp.tallies", "--from-scratch", "--batch-size", "3")
    progress = [line for line in output.splitlines() if line.startswith("rebuilding testapp.tallies: ")]
    assert progress[0].startswith("rebuilding testapp.tallies: 0/7 deliveries (0%)")
    assert any(line.startswith("rebuilding testapp.tallies: 4/7 deliveries (57%), ") for line in progress)
    assert progress[-1].startswith("rebuilding testapp.tallies: 7/7 deliveries (100%), ")
    assert all("/s, " in line for line in progress)  # the rate


@override_settings(PROGRESS_LINE_INTERVAL=0)
def test_a_replay_shows_progress_lines_when_stdout_is_not_a_terminal(readers: list[tuple]) -> None:
    output = replay("--projection", "notifications.recipients")
    progress = [line for line in output.splitlines() if line.startswith("replaying into notifications.recipients: ")]
    assert [line.split(" (")[0].rsplit(": ", 1)[1] for line in progress] == [
        *(f"{n}/7 deliveries" for n in range(1, 8)),
        "7/7 deliveries",  # the last line, at the end
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_killed_hard_in_another_process_resumes_to_the_table_an_uninterrupted_rebuild_gives(
    bus: TestBus,
) -> None:
    for n in range(300):
        register(f"reader-{n:03}")
    bus.drain()
    built_live = recipients()
    command = [sys.executable, "manage.py", "replay_events", "--projection", "notifications.recipients"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **test_database_env()}
    rebuild = subprocess.Popen(
        [*command, "--from-scratch", "--batch-size", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: projection_rebuilds("notifications").filter(deliveries_done__gte=5).exists(),
            interval=0.005,
            what="the rebuild's fifth batch",
        )
    finally:
        rebuild.kill()  # SIGKILL: no handler, no clean-up, the open transaction dies with the process
        rebuild.wait()
    checkpoint = projection_rebuilds("notifications").get(projection="notifications.recipients")
    assert not checkpoint.finished and 5 <= checkpoint.deliveries_done < 300
    # Exactly what the committed batches say: the batch under way left nothing.
    assert Recipient.objects.count() == checkpoint.deliveries_done == checkpoint.batches_committed

    output = replay("--projection", "notifications.recipients", "--from-scratch")
    assert f"{checkpoint.deliveries_done} deliveries were already committed" in output
    assert recipients() == built_live
    assert inbox_records("notifications").filter(handler__startswith="notifications.").count() == 300
