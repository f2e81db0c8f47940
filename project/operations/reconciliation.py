"""Cross-domain reconciliation: do the domains' copies agree with each other?

Every domain keeps its own copy of what it needs from the others, built from events; this module
compares them, to find where they disagree (a lost event, a handler bug, a hand-edited row). It
never writes, and it reads no table itself: each domain hands over the facts it holds through a
small function of its own ``selectors`` (``order_facts``, ``stock_facts``, ...), plain values read
from that domain's own tables only, so no query joins two domains and each domain's vocabulary
(its statuses) stays its own.

Each check is a small function returning findings. Checks that compare a source with a copy
updated by events allow a grace period (``grace``): an event may still be on its way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.utils import timezone

from articles.selectors import ArticleFacts, article_facts
from inventory.selectors import StockFacts, stock_facts
from notifications.selectors import recipient_contact_facts
from orders.selectors import OrderFacts, order_facts
from publishing.selectors import public_copy_facts
from users.selectors import contact_facts


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # what it is about: "order <id>", "sku CRUNCHY-ARMCHAIR", "user 7"...
    problem: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """One run's cut-off, and each domain's facts, read once per run when a check first needs them."""

    now: datetime
    grace: timedelta

    @property
    def settled_before(self) -> datetime:
        """Changes older than this had time to reach every copy."""
        return self.now - self.grace

    @cached_property
    def orders(self) -> OrderFacts:
        return order_facts(settled_before=self.settled_before)

    @cached_property
    def inventory(self) -> StockFacts:
        order_ids = [line.order_id for line in self.orders.confirmed_lines] + list(self.orders.ended_status)
        return stock_facts(order_ids=order_ids, settled_before=self.settled_before)

    @cached_property
    def articles(self) -> ArticleFacts:
        return article_facts(settled_before=self.settled_before)


Check = Callable[[Context], list[Finding]]


def confirmed_orders_without_committed_stock(ctx: Context) -> list[Finding]:
    """A confirmed order's lines must each hold a committed reservation (once CommitStock had time)."""
    findings = []
    for line in ctx.orders.confirmed_lines:
        held = ctx.inventory.lines.get((line.order_id, line.line_id))
        if held is None or not held.committed:
            findings.append(
                Finding(
                    "confirmed_order_without_committed_stock",
                    f"order {line.order_id}",
                    f"line {line.position} ({line.quantity} x {line.sku}) is confirmed but its reservation is "
                    f"{held.status if held else 'missing'} in inventory",
                )
            )
    return findings


def reservations_held_for_ended_orders(ctx: Context) -> list[Finding]:
    """A failed or cancelled order holds nothing: it only ends once inventory released every line."""
    ended = ctx.orders.ended_status
    held = [r for (order_id, _), r in ctx.inventory.lines.items() if order_id in ended and r.holds_stock]
    return [
        Finding(
            "reservation_held_for_ended_order",
            f"order {r.order_id}",
            f"{r.quantity} x {r.sku} still {r.status} in inventory although the order is {ended[r.order_id]}",
        )
        for r in sorted(held, key=lambda r: (str(r.order_id), r.sku))
    ]


def stock_that_does_not_add_up(ctx: Context) -> list[Finding]:
    """StockItem.reserved equals the sum of its reserved reservations, and on_hand covers it."""
    findings = []
    for count in ctx.inventory.counts:
        if count.reserved != count.reserved_by_lines:
            findings.append(
                Finding(
                    "stock_reserved_mismatch",
                    f"sku {count.sku}",
                    f"reserved is {count.reserved} but its reserved reservations add up to {count.reserved_by_lines}",
                )
            )
        if count.on_hand < count.reserved:
            findings.append(
                Finding(
                    "stock_on_hand_below_reserved",
                    f"sku {count.sku}",
                    f"on_hand {count.on_hand} is below reserved {count.reserved}",
                )
            )
    return findings


def public_articles_out_of_step(ctx: Context) -> list[Finding]:
    """What the public sees is what authoring has published (after the grace period)."""
    authoring, public = ctx.articles, public_copy_facts()
    findings = []
    for article_id, slug in sorted(public.items(), key=lambda item: str(item[0])):
        article = authoring.settled.get(article_id)
        if article_id not in authoring.article_ids:
            problem = f"'{slug}' is public but authoring has no such article"
        elif article is not None and not article.published:
            problem = f"'{slug}' is public but the article is {article.status} in authoring"
        else:
            continue
        findings.append(Finding("public_article_not_published", f"article {article_id}", problem))
    for article_id, article in sorted(authoring.settled.items(), key=lambda item: str(item[0])):
        if article.published and article_id not in public:
            findings.append(
                Finding(
                    "published_article_missing_publicly",
                    f"article {article_id}",
                    f"'{article.slug}' is published in authoring but not public",
                )
            )
    return findings


def recipients_behind_users(ctx: Context) -> list[Finding]:
    """notifications' Recipient copy matches each user's email and preferences (after the grace period)."""
    copies = recipient_contact_facts()
    findings = []
    for user_id, source in contact_facts(settled_before=ctx.settled_before).items():
        copy = copies.get(user_id)
        if copy is None:
            findings.append(
                Finding("recipient_projection_behind", f"user {user_id}", "no Recipient copy in notifications")
            )
            continue
        differences = [f"{name} {copy[name]!r} != {ours!r}" for name, ours in source.items() if ours != copy[name]]
        if differences:
            findings.append(
                Finding(
                    "recipient_projection_behind",
                    f"user {user_id}",
                    "Recipient differs from users: " + "; ".join(differences) + " (copy != source)",
                )
            )
    return findings


def known_products_behind_inventory(ctx: Context) -> list[Finding]:
    """Every sku inventory stocks is orderable: orders' KnownProduct copy has it (after the grace period)."""
    return [
        Finding("known_product_missing", f"sku {sku}", "stocked by inventory but unknown to orders (no KnownProduct)")
        for sku in sorted(ctx.inventory.stocked_skus - ctx.orders.known_skus)
    ]


CHECKS: dict[str, Check] = {
    "orders-vs-inventory: confirmed orders have committed stock": confirmed_orders_without_committed_stock,
    "orders-vs-inventory: ended orders hold no stock": reservations_held_for_ended_orders,
    "inventory: reserved stock adds up": stock_that_does_not_add_up,
    "articles-vs-publishing: public means published": public_articles_out_of_step,
    "users-vs-notifications: recipients match users": recipients_behind_users,
    "inventory-vs-orders: every stocked sku is orderable": known_products_behind_inventory,
}


def consistency_findings(*, grace: timedelta, now: datetime | None = None) -> dict[str, list[Finding]]:
    """Run every check; findings by check name (an empty list: that check found nothing)."""
    ctx = Context(now=now or timezone.now(), grace=grace)
    return {name: check(ctx) for name, check in CHECKS.items()}


def findings_as_json(results: dict[str, list[Finding]]) -> dict[str, Any]:
    by_kind: dict[str, int] = defaultdict(int)
    for findings in results.values():
        for finding in findings:
            by_kind[finding.kind] += 1
    return {
        "consistent": not any(results.values()),
        "counts": dict(by_kind),
        "checks": {name: [f.as_dict() for f in findings] for name, findings in results.items()},
    }
