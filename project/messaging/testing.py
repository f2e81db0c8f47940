"""A synchronous, in-process bus for unit and service tests.

It reads what services wrote to the outbox, round-trips every envelope through JSON (so a payload
that could not travel fails here, not in production) and hands each delivery to the very same
consumer code the Celery workers run, inbox included. On request it delivers every message twice,
or in shuffled or reversed order. Transient faults are retried at once, without the backoff sleep.

    bus = TestBus()
    order_place(...)
    bus.drain()                       # until nothing is pending
    bus.drain(duplicate=True, order="shuffle", seed=7)

A consumer on another database than its producer acknowledges by message (docs/messaging.md,
"Acknowledgements"): ``drain`` hands those to their producers after every round, as the relay and
the producer's worker would (``acknowledge=False`` leaves them pending, for tests of that path).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox import consumer
from project.messaging.inbox.consumer import Outcome, Result
from project.messaging.models import Delivery
from project.messaging.outbox import acknowledgements
from project.messaging.outbox.relay import delivery_message
from project.messaging.registry.databases import messaging_databases

Order = Literal["fifo", "shuffle", "reverse"]


@dataclass
class Handled:
    handler: str
    event_type: str
    result: Result


@dataclass
class TestBus:
    __test__ = False  # not a pytest test class

    # One database's outbox, or (None) every database's, as the relays of all domains would.
    using: str | None = None
    log: list[Handled] = field(default_factory=list)

    def take_pending(self) -> list[DeliveryAttempt]:
        """Claim every pending delivery, as the relay would, and return it as it would travel:
        oldest first over all databases (with a database per domain, "fifo" and "reverse" are
        still the order the deliveries were written in, not one database's after another's)."""
        claimed: list[tuple[datetime, DeliveryAttempt]] = []
        for alias in [self.using] if self.using else messaging_databases():
            deliveries = list(
                Delivery.objects.using(alias)
                .filter(status=Delivery.Status.PENDING)
                .select_related("event")
                .order_by("id")
            )
            Delivery.objects.using(alias).filter(pk__in=[d.pk for d in deliveries]).update(
                status=Delivery.Status.SENT, last_sent_at=timezone.now()
            )
            claimed.extend(
                (d.created_at, DeliveryAttempt(**json.loads(json.dumps(delivery_message(d))))) for d in deliveries
            )
        # A stable sort: deliveries written at the same instant keep their database's id order.
        return [attempt for _, attempt in sorted(claimed, key=lambda each: each[0])]

    def deliver(self, attempt: DeliveryAttempt) -> Result:
        """Deliver one message; transient failures are retried at once until they stop."""
        while True:
            result = consumer.process(attempt)
            self.log.append(Handled(attempt.handler, attempt.envelope.get("event_type", ""), result))
            if result.outcome is not Outcome.RETRY:
                return result
            attempt = DeliveryAttempt(
                **{**attempt.__dict__, "attempt": attempt.attempt + 1, "first_failed_at": result.first_failed_at}
            )

    def drain(
        self,
        *,
        duplicate: bool = False,
        order: Order = "fifo",
        seed: int | None = None,
        max_rounds: int = 100,
        acknowledge: bool = True,
    ) -> list[Handled]:
        """Deliver until the outbox has nothing pending (messages published by handlers included)."""
        rng = random.Random(seed)
        start = len(self.log)
        for _ in range(max_rounds):
            batch = self.take_pending()
            if not batch:
                return self.log[start:]
            if duplicate:
                batch = [a for a in batch for _ in (0, 1)]
            if order == "shuffle":
                rng.shuffle(batch)
            elif order == "reverse":
                batch.reverse()
            for attempt in batch:
                self.deliver(attempt)
            if acknowledge:
                self.acknowledge()
        raise RuntimeError(f"The outbox was still not empty after {max_rounds} rounds (a loop of events?).")

    def acknowledge(self) -> int:
        """Apply every pending acknowledgement on its producer's database (through JSON, as it
        would travel) and delete it; how many rows were handed over."""
        handed = 0
        for alias in messaging_databases():
            with transaction.atomic(using=alias):
                batches = acknowledgements.claim_pending(alias)
                for batch in batches:
                    acknowledgements.apply_acknowledgements(**json.loads(json.dumps(batch.task_kwargs())))
                handed += acknowledgements.forget_sent(alias, batches)
        return handed

    def handled(self, outcome: Outcome | None = None) -> list[Handled]:
        return [h for h in self.log if outcome is None or h.result.outcome is outcome]


@contextmanager
def test_bus(using: str | None = None) -> Iterator[TestBus]:
    """Route publishing to a TestBus: nothing is sent to a broker after commit."""
    with override_settings(MESSAGING_SEND_ON_COMMIT=False):
        yield TestBus(using=using)


test_bus.__test__ = False  # type: ignore[attr-defined]
