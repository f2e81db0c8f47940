"""Cross-domain reconciliation: do the domains' tables agree with each other?

THE EXCEPTION TO "each domain reads only its own tables". Every domain keeps its own copy of
what it needs from the others, built from events; this module is the one place that reads
several domains' tables side by side, to find where those copies disagree (a lost event, a
handler bug, a hand-edited row). It never writes, and it imports no domain app: the models are
looked up by label with ``apps.get_model`` so the import rules (import-linter) still hold and no
domain code comes to depend on another's.

Each check is a small function returning findings. Checks that compare a source with a copy
updated by events allow a grace period (``grace``): an event may still be on its way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Model, Sum
from django.utils import timezone


def _model(label: str) -> type[Model]:
    return apps.get_model(label)


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # what it is about: "order <id>", "sku CRUNCHY-ARMCHAIR", "user 7"...
    problem: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    now: datetime
    grace: timedelta

    @property
    def settled_before(self) -> datetime:
        """Changes older than this had time to reach every copy."""
        return self.now - self.grace


Check = Callable[[Context], list[Finding]]


def confirmed_orders_without_committed_stock(ctx: Context) -> list[Finding]:
    """A confirmed order's lines must each hold a committed reservation (once CommitStock had time)."""
    Order, Reservation = _model("orders.Order"), _model("inventory.Reservation")
    findings = []
    orders = Order.objects.filter(status="confirmed", updated_at__lt=ctx.settled_before).prefetch_related("lines")
    for order in orders.iterator(chunk_size=500):
        held = dict(Reservation.objects.filter(order_id=order.pk).values_list("line_id", "status"))
        for line in order.lines.all():
            status = held.get(line.pk)
            if status != "committed":
                findings.append(
                    Finding(
                        "confirmed_order_without_committed_stock",
                        f"order {order.pk}",
                        f"line {line.position} ({line.quantity} x {line.sku}) is confirmed but its reservation is "
                        f"{status or 'missing'} in inventory",
                    )
                )
    return findings


def reservations_held_for_ended_orders(ctx: Context) -> list[Finding]:
    """A failed or cancelled order holds nothing: it only ends once inventory released every line."""
    Order, Reservation = _model("orders.Order"), _model("inventory.Reservation")
    ended = Order.objects.filter(status__in=["failed", "cancelled"])
    status_of = dict(ended.values_list("pk", "status"))
    held = Reservation.objects.filter(order_id__in=ended.values("pk"), status__in=["reserved", "committed"])
    return [
        Finding(
            "reservation_held_for_ended_order",
            f"order {r.order_id}",
            f"{r.quantity} x {r.sku} still {r.status} in inventory although the order is {status_of.get(r.order_id)}",
        )
        for r in held.order_by("order_id", "sku")
    ]


def stock_that_does_not_add_up(ctx: Context) -> list[Finding]:
    """StockItem.reserved equals the sum of its reserved reservations, and on_hand covers it."""
    StockItem, Reservation = _model("inventory.StockItem"), _model("inventory.Reservation")
    reserved_by_sku = dict(
        Reservation.objects.filter(status="reserved").values_list("sku").annotate(total=Sum("quantity"))
    )
    findings = []
    for item in StockItem.objects.order_by("sku"):
        expected = reserved_by_sku.get(item.sku, 0) or 0
        if item.reserved != expected:
            findings.append(
                Finding(
                    "stock_reserved_mismatch",
                    f"sku {item.sku}",
                    f"reserved is {item.reserved} but its reserved reservations add up to {expected}",
                )
            )
        if item.on_hand < item.reserved:
            findings.append(
                Finding(
                    "stock_on_hand_below_reserved",
                    f"sku {item.sku}",
                    f"on_hand {item.on_hand} is below reserved {item.reserved}",
                )
            )
    return findings


def public_articles_out_of_step(ctx: Context) -> list[Finding]:
    """What the public sees is what authoring has published (after the grace period)."""
    Article, PublicArticle = _model("articles.Article"), _model("publishing.PublicArticle")
    findings = []
    settled = Article.objects.filter(updated_at__lt=ctx.settled_before)
    status_of = dict(settled.values_list("pk", "status"))
    settled_ids = set(status_of)
    public = PublicArticle.objects.filter(is_public=True)
    for copy in public.order_by("article_id"):
        status = status_of.get(copy.article_id)
        if copy.article_id in settled_ids and status != "published":
            findings.append(
                Finding(
                    "public_article_not_published",
                    f"article {copy.article_id}",
                    f"'{copy.slug}' is public but the article is {status} in authoring",
                )
            )
    known_ids = set(Article.objects.values_list("pk", flat=True))
    for copy in public.exclude(article_id__in=known_ids).order_by("article_id"):
        findings.append(
            Finding(
                "public_article_not_published",
                f"article {copy.article_id}",
                f"'{copy.slug}' is public but authoring has no such article",
            )
        )
    public_ids = set(public.values_list("article_id", flat=True))
    for article in settled.filter(status="published").exclude(pk__in=public_ids).order_by("pk"):
        findings.append(
            Finding(
                "published_article_missing_publicly",
                f"article {article.pk}",
                f"'{article.slug}' is published in authoring but not public",
            )
        )
    return findings


def recipients_behind_users(ctx: Context) -> list[Finding]:
    """notifications' Recipient copy matches each user's email and preferences (after the grace period)."""
    Profile, Recipient = _model("users.UserProfile"), _model("notifications.Recipient")
    copies = {r.user_id: r for r in Recipient.objects.all()}
    findings = []
    profiles = Profile.objects.select_related("user").filter(updated_at__lt=ctx.settled_before)
    for profile in profiles.order_by("user_id"):
        copy = copies.get(profile.user_id)
        if copy is None:
            findings.append(
                Finding("recipient_projection_behind", f"user {profile.user_id}", "no Recipient copy in notifications")
            )
            continue
        differences = [
            f"{name} {theirs!r} != {ours!r}"
            for name, ours, theirs in (
                ("email", profile.user.email, copy.email),
                ("order_updates", profile.order_updates, copy.order_updates),
                ("new_articles", profile.new_articles, copy.new_articles),
                ("email_format", profile.email_format, copy.email_format),
            )
            if ours != theirs
        ]
        if differences:
            findings.append(
                Finding(
                    "recipient_projection_behind",
                    f"user {profile.user_id}",
                    "Recipient differs from users: " + "; ".join(differences) + " (copy != source)",
                )
            )
    return findings


def known_products_behind_inventory(ctx: Context) -> list[Finding]:
    """Every sku inventory stocks is orderable: orders' KnownProduct copy has it (after the grace period)."""
    StockItem, KnownProduct = _model("inventory.StockItem"), _model("orders.KnownProduct")
    known = set(KnownProduct.objects.values_list("sku", flat=True))
    return [
        Finding("known_product_missing", f"sku {sku}", "stocked by inventory but unknown to orders (no KnownProduct)")
        for sku in StockItem.objects.filter(created_at__lt=ctx.settled_before)
        .exclude(sku__in=known)
        .order_by("sku")
        .values_list("sku", flat=True)
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
