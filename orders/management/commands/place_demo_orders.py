"""Place N demo orders (some designed to fail) through the service layer and report how they end."""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.management import DomainCommand
from project.progress import Progress

POLL_INTERVAL = 0.5  # seconds between two looks at the orders' statuses while waiting


class Command(DomainCommand):
    help = (
        "Place N demo orders for the demo customers: most of 1-3 lines of known products, and a "
        "share (--fail-share) asking for far more than any shelf holds, so their sagas compensate. "
        "Waits (--wait seconds) for every order to end, showing how many ended, and prints the outcome; "
        "exits 1 if some are still open then. Needs the workers running."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("count", type=int)
        parser.add_argument("--fail-share", type=float, default=0.2)
        parser.add_argument(
            "--wait", type=float, default=60.0, help="Seconds to wait for the orders to end (0: don't)."
        )
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args: Any, count: int, fail_share: float, wait: float, seed: int | None, **opts: Any) -> None:
        if count < 1:
            raise CommandError("count must be at least 1.")
        if not 0 <= fail_share <= 1:
            raise CommandError("--fail-share must be between 0 and 1.")
        skus = list(KnownProduct.objects.values_list("sku", flat=True))
        if not skus:
            raise CommandError("Orders knows no products yet: run seed_inventory and start the orders worker.")
        customers = list(get_user_model().objects.filter(is_staff=False).values_list("pk", flat=True))
        if not customers:
            raise CommandError("No customers: run seed_users first.")
        rng = random.Random(seed)
        placed = []
        with Progress(self.stdout, "placing orders", total=count, unit="orders") as placing:
            for _ in range(count):
                picked = rng.sample(skus, k=min(len(skus), rng.randint(1, 3)))
                doomed = rng.random() < fail_share
                lines = [
                    LineInput(sku, 100_000 if doomed and n == len(picked) - 1 else rng.randint(1, 2), Decimal("9.99"))
                    for n, sku in enumerate(picked)
                ]
                placed.append(order_place(customer_id=rng.choice(customers), lines=lines).order.pk)
                placing.advance()
        self.stdout.write(f"placed {len(placed)} orders")
        if wait:
            self.stdout.write(f"waiting up to {wait:g}s for them to end (confirmed, failed or cancelled)")
            try:
                outcome = self._wait_for_the_end(placed, wait)
            except KeyboardInterrupt:
                ended = _ended(_statuses(placed))
                raise CommandError(
                    f"Stopped waiting: {ended} of {len(placed)} orders had ended. The others go on in the "
                    "workers (saga_status shows them).",
                    returncode=130,
                ) from None
        else:
            outcome = _statuses(placed)
        self.stdout.write(", ".join(f"{status}: {n}" for status, n in sorted(outcome.items())))
        reasons = Counter(
            Order.objects.filter(pk__in=placed, status=Order.Status.FAILED).values_list("failure_reason", flat=True)
        )
        for reason, n in reasons.most_common(5):
            self.stdout.write(f"  {n} x {reason}")
        still_open = len(placed) - _ended(outcome)
        if wait and still_open:
            raise CommandError(
                f"{still_open} of {len(placed)} orders had not ended after {wait:g}s: are the orders and "
                "inventory workers running?"
            )

    def _wait_for_the_end(self, placed: list[UUID], wait: float) -> Counter[str]:
        """Poll the orders' statuses until every one ended or ``wait`` seconds passed, showing how many ended."""
        deadline = time.monotonic() + wait
        with Progress(self.stdout, "orders ended", total=len(placed), unit="orders") as ending:
            while True:
                outcome = _statuses(placed)
                ended = _ended(outcome)
                ending.update(ended, detail=_ended_detail(outcome, still_open=len(placed) - ended))
                if ended == len(placed) or time.monotonic() >= deadline:
                    return outcome
                time.sleep(POLL_INTERVAL)


def _statuses(placed: list[UUID]) -> Counter[str]:
    return Counter(Order.objects.filter(pk__in=placed).values_list("status", flat=True))


def _ended(outcome: Counter[str]) -> int:
    return sum(outcome[status] for status in Order.TERMINAL)


def _ended_detail(outcome: Counter[str], *, still_open: int) -> str:
    ended = [f"{status} {outcome[status]}" for status in sorted(Order.TERMINAL) if outcome[status]]
    return ", ".join([*ended, f"still open {still_open}"])
