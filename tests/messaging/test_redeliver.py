"""`manage.py redeliver`: the deliveries to one consumer settled since a moment are sent again (after
the consumer's database was restored from a backup taken then); its inbox drops what it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox import consumer
from project.messaging.management.commands.redeliver import parse_since
from project.messaging.models import DeadLetter, Delivery
from project.messaging.outbox.relay import delivery_message
from project.messaging.testing import TestBus
from tests.brokers import BrokerQueues
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db

HANDLER = "testapp.add_to_tally"


def redeliver(*args: str) -> str:
    out = StringIO()
    call_command("redeliver", *args, stdout=out)
    return out.getvalue()


def test_deliveries_processed_since_the_moment_are_sent_again_and_older_ones_are_left(
    bus: TestBus, clean_queues: BrokerQueues
) -> None:
    tally_ping(key="EARLY-EGRET", amount=1)
    tally_ping(key="LATE-LARK", amount=1)
    bus.drain()
    early, late = Delivery.objects.filter(handler=HANDLER).order_by("id")
    Delivery.objects.filter(pk=early.pk).update(processed_at=timezone.now() - timedelta(hours=1))

    out = redeliver("--queue", "testapp", "--since", "10m")

    assert "default: redelivered 1 to testapp (1 processed, 0 dead-lettered); relay sent 1 pending" in out
    late.refresh_from_db()
    early.refresh_from_db()
    assert (late.status, late.send_count, late.processed_at) == (Delivery.Status.SENT, 1, None)
    assert early.status == Delivery.Status.PROCESSED
    assert clean_queues.ready("testapp") == 1  # sent by the relay, as any pending delivery
    # The consumer still holds it (its database was not restored here): a duplicate, acknowledged.
    result = consumer.process(DeliveryAttempt(**delivery_message(late)))
    assert result.outcome is consumer.Outcome.DUPLICATE
    late.refresh_from_db()
    assert late.status == Delivery.Status.PROCESSED


def test_a_dry_run_counts_dead_lettered_deliveries_and_changes_nothing(dead_letter: DeadLetter) -> None:
    delivery = Delivery.objects.get(handler=HANDLER)
    assert delivery.status == Delivery.Status.DEAD_LETTERED

    out = redeliver("--queue", "testapp", "--since", (timezone.now() - timedelta(minutes=1)).isoformat(), "--dry-run")

    assert "default: would redeliver 1 to testapp (0 processed, 1 dead-lettered)" in out
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DEAD_LETTERED


def test_other_queues_deliveries_are_left_alone(bus: TestBus) -> None:
    tally_ping(key="QUIET-QUAIL", amount=1)
    bus.drain()
    out = redeliver("--queue", "inventory", "--since", "1h")
    assert "redelivered 0 deliveries to inventory" in out
    assert Delivery.objects.get(handler=HANDLER).status == Delivery.Status.PROCESSED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--queue", "nowhere", "--since", "10m"), "Unknown queue 'nowhere'"),
        (("--queue", "testapp", "--since", "yesterday-ish"), "neither an ISO 8601 time"),
        (("--queue", "testapp", "--since", "10x"), "neither an ISO 8601 time"),
        (("--queue", "testapp", "--since", "2999-01-01T00:00:00+00:00"), "is in the future"),
        (("--since", "10m"), "--queue"),
    ],
)
def test_bad_input_is_refused_with_a_command_error(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        redeliver(*args)


def test_since_takes_an_age_or_an_iso_time() -> None:
    now = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    assert parse_since("90s", now=now) == now - timedelta(seconds=90)
    assert parse_since("10m", now=now) == now - timedelta(minutes=10)
    assert parse_since("2h", now=now) == now - timedelta(hours=2)
    assert parse_since("1d", now=now) == now - timedelta(days=1)
    assert parse_since("2026-12-04T12:30:00+00:00", now=now) == datetime(2026, 12, 4, 12, 30, tzinfo=UTC)
    assert timezone.is_aware(parse_since("2026-12-04T12:30:00", now=now))
