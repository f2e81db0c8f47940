"""The operators' commands: --help says what they do, bad input and failures exit non-zero."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command, load_command_class

from project.messaging.models import DeadLetter

pytestmark = pytest.mark.django_db

COMMANDS = {
    "messaging": ["dead_letters", "purge_messaging", "redeliver", "relay_outbox", "replay_events"],
    "orders": ["saga_status"],
    "operations": ["check_consistency"],
}


@pytest.mark.parametrize(("app", "name"), [(app, name) for app, names in COMMANDS.items() for name in names])
def test_every_operator_command_explains_itself_in_its_help(app: str, name: str) -> None:
    module = {"messaging": "project.messaging", "operations": "project.operations"}.get(app, app)
    command = load_command_class(module, name)
    text = command.create_parser("manage.py", name).format_help()
    assert command.help and command.help.split()[0] in text
    assert "--help" in text


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dead_letters", "replay"), "say which dead letters"),
        (("dead_letters", "replay", "999"), "No open dead letter with id 999"),
        (("dead_letters", "discard", "--handler", "testapp.add_to_tally"), "No open dead letter matches"),
        (("purge_messaging", "--older-than-days", "-1"), "zero or more"),
        (("relay_outbox", "--database", "nowhere"), "Unknown database alias: nowhere"),
        (("relay_outbox", "--interval", "0"), "must be positive"),
        (("saga_status", "not-a-uuid"), "is not an order id"),
        (("saga_status", "0b6a54c4-6a39-4f0e-9a43-1c2f3e4d5a6b"), "No order"),
        (("saga_status", "--stuck-minutes", "0"), "must be positive"),
        (("check_consistency", "--grace-seconds", "-5"), "zero or more"),
    ],
)
def test_bad_input_is_a_command_error(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


@pytest.fixture
def refused_ping(dead_letter: DeadLetter) -> DeadLetter:
    return dead_letter


def test_discarding_without_a_reason_is_refused_and_changes_nothing(refused_ping: DeadLetter) -> None:
    with pytest.raises(CommandError, match="discard needs --reason"):
        run("dead_letters", "discard", str(refused_ping.pk))
    refused_ping.refresh_from_db()
    assert refused_ping.status == "dead"


def test_an_inline_replay_that_fails_again_exits_non_zero_and_counts_the_replay(refused_ping: DeadLetter) -> None:
    with pytest.raises(CommandError, match="could not be replayed"):
        run("dead_letters", "replay", str(refused_ping.pk), "--inline")
    refused_ping.refresh_from_db()
    assert (refused_ping.status, refused_ping.replay_count, refused_ping.attempts) == ("dead", 1, 2)


def test_listing_groups_by_fingerprint(refused_ping: DeadLetter) -> None:
    out, _ = run("dead_letters", "list", "--groups")
    assert refused_ping.fingerprint in out and "x1" in out
    out, _ = run("dead_letters", "list", "--handler", "nobody.nothing")
    assert out.strip() == "no dead letters match"
