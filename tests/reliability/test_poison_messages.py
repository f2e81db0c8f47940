"""Poison messages in the middle of the stream: an invalid payload, an event version newer than
the code, a malformed envelope and an unknown event type, on four different queues.

Each is dead-lettered at once (no retries) with its reason, and the rest of the stream flows
past it: every other delivery is applied once and every invariant holds. At the end every dead
letter is one of those planted.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.models import DeadLetter
from project.messaging.outbox.relay import send_messages
from project.messaging.registry.databases import database_for
from tests.reliability.conftest import timings
from tests.reliability.harness import System
from tests.reliability.shop import Planted, Shop, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def envelope(event_type: str, payload: dict[str, Any], *, version: int = 1) -> dict[str, Any]:
    producer = event_type.split(".", 1)[0]
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": version,
        "occurred_at": timezone.now().isoformat(),
        "producer": producer,
        "aggregate_type": "order",
        "aggregate_id": str(uuid.uuid4()),
        "aggregate_version": None,
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": payload,
    }


def poisons() -> list[tuple[Planted, str]]:
    """(what is planted, words its dead letter's reason must contain)."""
    return [
        (
            Planted(
                "inventory.reserve_order_line",
                envelope("inventory.ReserveStock", {"order_id": "not-a-uuid", "sku": "RARE-VASE"}),
                "project.messaging.contract.errors.InvalidPayload",
            ),
            "inventory.ReserveStock: ",
        ),
        (
            Planted(
                "notifications.tell_customer_order_confirmed",
                envelope("orders.OrderConfirmed", {"order_id": str(uuid.uuid4())}, version=99),
                "project.messaging.contract.errors.UnsupportedSchemaVersion",
            ),
            "v99 is newer than this code understands",
        ),
        (
            Planted(
                "publishing.show_published_article",
                {"event_type": "articles.ArticlePublished", "payload": {"title": "no envelope around me"}},
                "project.messaging.contract.errors.InvalidPayload",
            ),
            "Malformed envelope",
        ),
        (
            Planted(
                "orders.advance_saga_on_stock_reserved",
                envelope("inventory.StockTeleported", {"order_id": str(uuid.uuid4())}),
                "project.messaging.contract.errors.UnknownEventType",
            ),
            "Unknown event type 'inventory.StockTeleported'",
        ),
    ]


@dataclass(frozen=True)
class PoisonTiming:
    seed: int
    steps: tuple[int, ...]  # where the four poisons go in (one step for all: a burst)

    def __str__(self) -> str:
        where = (
            f"at step {self.steps[0]} at once"
            if len(set(self.steps)) == 1
            else f"at steps {','.join(map(str, self.steps))}"
        )
        return f"4 poisons {where}, seed {self.seed}"


TIMINGS = timings([PoisonTiming(seed=51, steps=(3, 9, 15, 21)), PoisonTiming(seed=53, steps=(12, 12, 12, 12))])


@pytest.mark.parametrize("timing", TIMINGS, ids=str)
def test_poison_messages_are_dead_lettered_with_their_reason_and_the_stream_flows_past_them(
    system: System, shop: Shop, finish, timing: PoisonTiming
) -> None:
    planted = poisons()
    last_planted = time.monotonic()

    def plant(step: int) -> None:
        nonlocal last_planted
        for at, (poison, _) in zip(timing.steps, planted, strict=True):
            if at == step:
                queue = poison.handler.split(".", 1)[0]
                send_messages(
                    [(queue, DeliveryAttempt(envelope=poison.envelope, handler=poison.handler).task_kwargs())]
                )
                shop.planted.append(poison)
                shop.sent_by_test += 1
                last_planted = time.monotonic()

    run_stream(shop, seed=timing.seed, after_step=plant)
    row = finish(shop, fault="poison messages", timing=str(timing), fault_ended_at=last_planted)
    assert row.dead_lettered == len(planted)
    for poison, reason in planted:
        # In the consumer's database (split: its domain's own).
        letter = DeadLetter.objects.using(database_for(poison.handler.split(".", 1)[0])).get(handler=poison.handler)
        assert (letter.error_type, letter.permanent, letter.attempts) == (poison.error_type, True, 1)
        assert reason in letter.error_message, letter.error_message
