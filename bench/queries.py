"""Seed the benchmark's database, counting the SQL queries of every handler on the way.

Runs in the benchmark's own process, before any worker starts, with the synchronous test bus:
services publish as usual, and each delivery goes through ``project.messaging.inbox.consumer.process``
(the code the workers run: inbox, handler, dead-letter check, delivery mark) under Django's
``CaptureQueriesContext``. So the counts are those of one handled event, inbox bookkeeping
included, split into the handler's own queries and the messaging layer's.

What it drives: products (ProductAdded), customers (UserRegistered, preference, email and name
changes), a confirmed and a failed order of 3 lines and the same of 10 lines (so that a handler
whose queries grow with the number of lines shows it), and an article published, revised and
withdrawn (publishing and the new-article emails).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from articles.services import article_create, article_edit, article_publish, article_unpublish
from inventory.services import stock_item_create
from orders.services import LineInput, order_place
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.inbox import consumer
from project.messaging.inbox.consumer import Outcome
from project.messaging.testing import TestBus, test_bus
from users.events import EmailPreferences
from users.services import user_email_change, user_preferences_change, user_profile_ensure, user_profile_update

OK_SKUS = [f"BENCH-SKU-{n:02d}" for n in range(1, 13)]
SOLD_OUT_SKUS = ["BENCH-SOLD-OUT-1", "BENCH-SOLD-OUT-2"]
CUSTOMERS = 20
PLENTY = 1_000_000_000  # never runs out during a run

_TX = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|BEGIN|COMMIT)", re.I)


def _kind(sql: str) -> str:
    if _TX.match(sql):
        return "tx"
    return "messaging" if "messaging_" in sql else "domain"


class AllQueries:
    """``CaptureQueriesContext`` over every database: split, a handler's statements go to its
    domain's database and Django's (users, tokens) to the default."""

    def __enter__(self) -> AllQueries:
        self.contexts = [CaptureQueriesContext(connections[alias]) for alias in connections]
        for context in self.contexts:
            context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for context in reversed(self.contexts):
            context.__exit__(*exc)

    @property
    def captured_queries(self) -> list[dict[str, str]]:
        return [q for context in self.contexts for q in context.captured_queries]


class Audit:
    """Delivers what is pending, one message at a time, and records the queries of each."""

    def __init__(self, bus: TestBus) -> None:
        self.bus = bus
        self.records: list[dict[str, Any]] = []

    def drain(self, scenario: str) -> None:
        for _ in range(50):
            batch = self.bus.take_pending()
            if not batch:
                return
            for attempt in batch:
                self._deliver(attempt, scenario)
        raise RuntimeError("the outbox never emptied")

    def _deliver(self, attempt: DeliveryAttempt, scenario: str) -> None:
        with AllQueries() as ctx:
            result = consumer.process(attempt)
        if result.outcome is not Outcome.PROCESSED:
            raise RuntimeError(f"{attempt.handler} ended {result.outcome.value}: {result.error}")
        kinds: dict[str, int] = defaultdict(int)
        for q in ctx.captured_queries:
            kinds[_kind(q["sql"])] += 1
            if q["sql"].lstrip().upper().startswith("SELECT") and "messaging_" not in q["sql"]:
                kinds["domain_selects"] += 1
        self.records.append(
            {
                "handler": attempt.handler,
                "event_type": attempt.envelope["event_type"],
                "scenario": scenario,
                "queries": len(ctx.captured_queries),
                **{k: kinds.get(k, 0) for k in ("domain", "domain_selects", "messaging", "tx")},
            }
        )


def _counted(fn: Any, **kwargs: Any) -> tuple[Any, int]:
    with AllQueries() as ctx:
        result = fn(**kwargs)
    return result, len(ctx.captured_queries)


def seed_and_audit() -> dict[str, Any]:
    """Create products and customers, exercise every handler once or more, and return the seed
    (skus, customers with API tokens) and the query counts."""
    entry: dict[str, int] = {}
    with test_bus() as bus:
        audit = Audit(bus)
        for sku in OK_SKUS:
            stock_item_create(sku=sku, name=f"Bench product {sku[-2:]}", on_hand=PLENTY)
        for sku in SOLD_OUT_SKUS:
            stock_item_create(sku=sku, name="Always sold out", on_hand=0)
        audit.drain("seed products")

        User = get_user_model()
        customers = []
        for n in range(CUSTOMERS):
            user, _ = User.objects.get_or_create(
                username=f"bench-customer-{n:02d}", defaults={"email": f"bench-customer-{n:02d}@example.com"}
            )
            # Most want order emails (sent through the dummy backend); some turned them off.
            prefs = EmailPreferences(order_updates=n % 7 != 6, new_articles=n % 4 == 0)
            user_profile_ensure(user_id=user.pk, display_name=f"Bench customer {n}", preferences=prefs)
            token, _ = Token.objects.get_or_create(user=user)
            customers.append({"id": user.pk, "token": token.key})
        audit.drain("seed customers")

        first = customers[0]["id"]
        user_preferences_change(user_id=first, new_articles=True)
        user_email_change(user_id=first, email="bench-customer-00-new@example.com")
        user_profile_update(user_id=first, display_name="Bench customer zero")
        audit.drain("customer changes")

        for n_lines in (3, 10):
            ok_lines = [LineInput(sku, 1, Decimal("9.99")) for sku in OK_SKUS[:n_lines]]
            _, entry[f"order_place ({n_lines} lines)"] = _counted(order_place, customer_id=first, lines=ok_lines)
            audit.drain(f"confirmed, {n_lines} lines")
            doomed = [*ok_lines[:-1], LineInput(SOLD_OUT_SKUS[0], 1, Decimal("9.99"))]
            order_place(customer_id=first, lines=doomed)
            audit.drain(f"failed, {n_lines} lines")

        article = article_create(author_id=first, author_name="Bench author", title="Benchmarks", body="Numbers.")
        article_publish(article_id=article.id)
        audit.drain("article published")
        article_edit(article_id=article.id, body="More numbers.")
        article_unpublish(article_id=article.id)
        audit.drain("article revised, withdrawn")
    connections.close_all()
    return {
        "ok_skus": OK_SKUS,
        "sold_out_skus": SOLD_OUT_SKUS,
        "customers": customers,
        "queries": summarise(audit.records),
        "entry_services": entry,
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per handler: queries per handled event (min, median, max, with its scenario), and how the
    count grows from a 3-line to a 10-line order (0 for handlers that do not depend on lines)."""
    by_handler: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_handler[r["handler"]].append(r)
    out: dict[str, Any] = {}
    for handler, rs in sorted(by_handler.items()):
        counts = [r["queries"] for r in rs]
        worst = max(rs, key=lambda r: r["queries"])
        growth = _growth_per_line(rs, "queries")
        select_growth = _growth_per_line(rs, "domain_selects")
        out[handler] = {
            "events": len(rs),
            "min": min(counts),
            "median": statistics.median(counts),
            "max": worst["queries"],
            "max_in": worst["scenario"],
            "max_split": {k: worst[k] for k in ("domain", "domain_selects", "messaging", "tx")},
            "extra_per_line": growth,
            "extra_selects_per_line": select_growth,
        }
    return out


def _growth_per_line(records: list[dict[str, Any]], key: str) -> float | None:
    """How many more ``key`` queries the worst event of a 10-line order needs than that of a 3-line
    order, per extra line (None for handlers that never see an order)."""
    worst: dict[str, int] = defaultdict(int)
    for r in records:
        worst[r["scenario"]] = max(worst[r["scenario"]], r[key])
    growth = None
    for outcome in ("confirmed", "failed"):
        small, big = worst.get(f"{outcome}, 3 lines"), worst.get(f"{outcome}, 10 lines")
        if small is not None and big is not None:
            g = (big - small) / 7
            growth = g if growth is None else max(growth, g)
    return growth
