"""Place N demo orders (some designed to fail) through the service layer and report how they end."""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from orders.models import KnownProduct, Order
from orders.services import LineInput, order_place
from project.management import DomainCommand


class Command(DomainCommand):
    help = (
        "Place N demo orders for the demo customers: most of 1-3 lines of known products, and a "
        "share (--fail-share) asking for far more than any shelf holds, so their sagas compensate. "
        "Waits (--wait seconds) for every order to end and prints the outcome. Needs the workers running."
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
        for _ in range(count):
            picked = rng.sample(skus, k=min(len(skus), rng.randint(1, 3)))
            doomed = rng.random() < fail_share
            lines = [
                LineInput(sku, 100_000 if doomed and n == len(picked) - 1 else rng.randint(1, 2), Decimal("9.99"))
                for n, sku in enumerate(picked)
            ]
            placed.append(order_place(customer_id=rng.choice(customers), lines=lines).order.pk)
        self.stdout.write(f"placed {len(placed)} orders")
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline:
            if Order.objects.filter(pk__in=placed, status__in=Order.TERMINAL).count() == len(placed):
                break
            time.sleep(0.5)
        outcome = Counter(Order.objects.filter(pk__in=placed).values_list("status", flat=True))
        self.stdout.write(", ".join(f"{status}: {n}" for status, n in sorted(outcome.items())))
        reasons = Counter(
            Order.objects.filter(pk__in=placed, status=Order.Status.FAILED).values_list("failure_reason", flat=True)
        )
        for reason, n in reasons.most_common(5):
            self.stdout.write(f"  {n} x {reason}")
        if wait and sum(outcome[s] for s in Order.TERMINAL) < len(placed):
            raise CommandError(f"Not every order ended within {wait:g}s: are the orders and inventory workers running?")
