"""The shop under test: a steady stream of orders (a share of them compensating), preference changes
and article publications through the real services, and the invariants every domain must satisfy
once the system is quiet again.

Everything happens through the domains' services in the test process, as the API would do it;
the workers do the rest. The data is memorable: six customers with fixed wishes (two of them,
dave and erin, change their minds during the stream), three plentiful products and a RARE-VASE
with three units, so that every fourth order asks for one more vase than is left and must be
compensated (its other lines released).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from io import StringIO
from typing import Any, TypeVar
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Model, QuerySet, Sum

from articles.models import Article
from articles.services import article_create, article_edit, article_publish, article_redraft, article_unpublish
from inventory.models import Reservation, StockItem
from inventory.services import stock_item_create
from notifications.models import Notification, Recipient
from orders.models import KnownProduct, Order, OrderLine
from orders.services import LineInput, OrderError, order_cancel, order_place
from project.messaging.models import Acknowledgement, DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.registry.databases import messaging_databases
from publishing.models import PublicArticle
from tests.conftest import wait_until
from users.events import EmailPreferences
from users.models import UserProfile
from users.services import user_preferences_change, user_register

SKUS = {"CRUNCHY-ARMCHAIR": 1000, "SHINY-LAMP": 1000, "WOBBLY-TABLE": 1000, "RARE-VASE": 3}
PLENTIFUL = ["CRUNCHY-ARMCHAIR", "SHINY-LAMP", "WOBBLY-TABLE"]


@dataclass(frozen=True)
class Person:
    name: str
    order_updates: bool
    new_articles: bool
    changes_mind: bool = False  # flips both preferences during the stream


PEOPLE = (
    Person("alice", order_updates=True, new_articles=True),
    Person("bob", order_updates=True, new_articles=False),
    Person("carol", order_updates=False, new_articles=False),
    Person("frank", order_updates=True, new_articles=True),
    Person("dave", order_updates=True, new_articles=False, changes_mind=True),
    Person("erin", order_updates=False, new_articles=True, changes_mind=True),
)

ARTICLE_TITLES = ("Crunchy armchairs in the rain", "Shiny lamps at dusk", "Wobbly tables, steady hands")


@dataclass(frozen=True)
class Planted:
    """A message the test put on a queue itself, and the dead letter it must end as."""

    handler: str
    envelope: dict[str, Any]
    error_type: str


@dataclass
class Shop:
    users: dict[str, int]
    on_hand_before: dict[str, int]
    orders: list[UUID] = field(default_factory=list)
    articles: list[UUID] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    sent_by_test: int = 0  # messages the test sent itself (planted, or deliveries sent again)
    stream_seconds: float = 0.0
    preference_changes: int = 0

    def person(self, user_id: int) -> Person:
        name = next(name for name, uid in self.users.items() if uid == user_id)
        return next(p for p in PEOPLE if p.name == name)


def open_shop(*, pump: Callable[[], object] | None = None) -> Shop:
    """Stock the shelves, register the customers, and wait until orders knows every product and
    notifications knows every customer (``pump`` sends the outbox when nothing else does)."""
    for sku, on_hand in SKUS.items():
        stock_item_create(sku=sku, name=sku.replace("-", " ").title(), on_hand=on_hand)
    users = {}
    for p in PEOPLE:
        profile = user_register(
            username=p.name,
            email=f"{p.name}@example.com",
            password=f"a-long-passphrase-for-{p.name}",
            display_name=p.name.title(),
            preferences=EmailPreferences(order_updates=p.order_updates, new_articles=p.new_articles),
        )
        users[p.name] = profile.user_id

    def ready() -> bool:
        if pump is not None:
            pump()
        known = Recipient.objects.filter(email_version__gt=0, preferences_version__gt=0).count()
        return KnownProduct.objects.count() == len(SKUS) and known == len(PEOPLE)

    wait_until(ready, timeout=60, what="orders to know the products and notifications the customers")
    return Shop(users=users, on_hand_before=dict(StockItem.objects.values_list("sku", "on_hand")))


def run_stream(
    shop: Shop,
    *,
    orders: int = 30,
    interval: float = 0.15,
    seed: int = 0,
    before_step: Callable[[int], object] | None = None,
    after_step: Callable[[int], object] | None = None,
) -> None:
    """Place ``orders`` orders, one every ``interval`` seconds, with cancellations, preference
    changes and article work in between. ``before_step(i)`` and ``after_step(i)`` run around
    step i (fault injection: after a step, its messages are on their way)."""
    rng = random.Random(seed)
    started = time.monotonic()
    for i in range(orders):
        if before_step is not None:
            before_step(i)
        place_order(shop, i, rng)
        if i % 8 == 5:
            change_mind(shop, i // 8)
        if i % 10 == 2:
            article_step(shop, i // 10)
        if after_step is not None:
            after_step(i)
        delay = started + (i + 1) * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    shop.stream_seconds = round(time.monotonic() - started, 2)


def place_order(shop: Shop, i: int, rng: random.Random) -> UUID:
    """Order i: one to three plentiful lines; every fourth also asks for two RARE-VASEs (most of
    those fail and release their other lines); every seventh is cancelled at once."""
    customer = shop.users[PEOPLE[i % len(PEOPLE)].name]
    lines = [LineInput(sku, rng.randint(1, 3), Decimal("12.50")) for sku in rng.sample(PLENTIFUL, rng.randint(1, 3))]
    if i % 4 == 1:
        lines.append(LineInput("RARE-VASE", 2, Decimal("300.00")))
    order = order_place(customer_id=customer, lines=lines).order
    shop.orders.append(order.pk)
    if i % 7 == 3:
        with contextlib.suppress(OrderError):  # it may have ended before the customer changed their mind
            order_cancel(order_id=order.pk)
    return order.pk


def change_mind(shop: Shop, k: int) -> None:
    """dave or erin flips both email preferences."""
    person = [p for p in PEOPLE if p.changes_mind][k % 2]
    profile = UserProfile.objects.get(user_id=shop.users[person.name])
    user_preferences_change(
        user_id=profile.user_id, order_updates=not profile.order_updates, new_articles=not profile.new_articles
    )
    shop.preference_changes += 1


def article_step(shop: Shop, n: int) -> None:
    """0: publish an article; 1: publish another and revise the first; 2: withdraw the second,
    withdraw, redraft and republish the first (nobody may hear of it twice), publish a third."""
    author = shop.users["alice"]

    def publish_new(title: str) -> None:
        article = article_create(author_id=author, author_name="Alice", title=title, body=f"{title}. A short note.")
        article_publish(article_id=article.pk)
        shop.articles.append(article.pk)

    if n < len(ARTICLE_TITLES):
        publish_new(ARTICLE_TITLES[n])
    if n == 1:
        article_edit(article_id=shop.articles[0], body="Revised: crunchier than ever, even in the rain.")
    if n == 2:
        article_unpublish(article_id=shop.articles[1])
        first = shop.articles[0]
        article_unpublish(article_id=first)
        article_redraft(article_id=first)
        article_publish(article_id=first)


# --- quiet and consistent ---------------------------------------------------------------------

M = TypeVar("M", bound=Model)


def everywhere(model: type[M]) -> list[QuerySet[M]]:
    """A messaging model's rows in each database that holds some: the default, and split each
    domain's own (a producer's events and deliveries, a consumer's inbox, dead letters and
    acknowledgements live beside the domain's rows)."""
    return [model.objects.using(alias) for alias in messaging_databases()]


def all_rows(model: type[M], **where: Any) -> list[M]:
    return [row for rows in everywhere(model) for row in rows.filter(**where)]


def settled() -> bool:
    """Every order ended, every delivery processed (or dead-lettered), no acknowledgement waiting."""
    return (
        not Order.objects.exclude(status__in=Order.TERMINAL).exists()
        and not any(
            rows.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.SENT]).exists()
            for rows in everywhere(Delivery)
        )
        and not any(rows.exists() for rows in everywhere(Acknowledgement))
    )


@dataclass
class CutAttempts:
    """Attempts of the email-sending handlers that did not commit, so may have sent their email
    and rolled back (the documented at-least-once window of notifications/services.py): the
    retry sends that email again.

    ``failed``: deliveries whose attempt failed and was retried (event id -> failures), from the
    workers' logs: their re-sent emails are known. ``blind``: attempts cut without a trace of
    which delivery they were running (a notifications worker killed, a handler terminated on a
    broker connection loss): each may explain one re-sent email.
    """

    failed: Counter[str] = field(default_factory=Counter)
    blind: int = 0

    def __bool__(self) -> bool:
        return bool(self.failed) or self.blind > 0


def assert_consistent(
    shop: Shop, emails: Counter[tuple[str, str]], *, cut: CutAttempts | None = None
) -> dict[str, Any]:
    """Every invariant across the domains; returns a few counts for the report.

    Every email leaves at most once, except where ``cut`` explains a second one.
    """
    _check_consistency_command()
    orders = {o.pk: o for o in Order.objects.all()}
    assert set(orders) == set(shop.orders), "an order appeared or vanished"
    statuses = Counter(o.status for o in orders.values())
    assert set(statuses) <= set(Order.TERMINAL), f"orders not ended: {statuses}"
    confirmed = {pk for pk, o in orders.items() if o.status == Order.Status.CONFIRMED}
    _assert_stock_conserved(shop, confirmed)
    _assert_reservations_match(confirmed)
    notes = list(Notification.objects.all())
    _assert_order_notifications(shop, orders, notes)
    _assert_article_notifications(shop, notes)
    email_count, resent = _assert_emails_sent_at_most_once(notes, emails, cut or CutAttempts())
    _assert_projections_equal_sources()
    _assert_every_delivery_applied_once()
    _assert_dead_letters_planted(shop)
    return {"orders": dict(statuses), "emails": email_count, "emails_resent": resent}


def _check_consistency_command() -> None:
    out = StringIO()
    try:
        call_command("check_consistency", "--grace-seconds", "0", stdout=out)
    except CommandError as exc:
        pytest.fail(f"check_consistency: {exc}\n{out.getvalue()}")
    assert out.getvalue().strip() == "consistent"


def _assert_stock_conserved(shop: Shop, confirmed: set[UUID]) -> None:
    sold = dict(OrderLine.objects.filter(order_id__in=confirmed).values_list("sku").annotate(units=Sum("quantity")))
    now = {item.sku: item for item in StockItem.objects.all()}
    assert set(now) == set(shop.on_hand_before)
    for sku, before in shop.on_hand_before.items():
        assert before == now[sku].on_hand + sold.get(sku, 0), f"{sku}: {before} != {now[sku].on_hand} + {sold}"
        assert now[sku].reserved == 0, f"{sku} still has {now[sku].reserved} reserved"


def _assert_reservations_match(confirmed: set[UUID]) -> None:
    held = Reservation.objects.filter(status__in=[Reservation.Status.RESERVED, Reservation.Status.COMMITTED])
    strays = list(held.exclude(order_id__in=confirmed).values_list("order_id", "sku", "status"))
    assert not strays, f"stock held for orders that are not confirmed: {strays}"
    committed = set(held.filter(status=Reservation.Status.COMMITTED).values_list("line_id", flat=True))
    lines = set(OrderLine.objects.filter(order_id__in=confirmed).values_list("pk", flat=True))
    assert committed == lines, "a confirmed line without committed stock, or committed stock without a line"


def _assert_order_notifications(shop: Shop, orders: dict[UUID, Order], notes: list[Notification]) -> None:
    kinds = {Notification.Kind.ORDER_CONFIRMED, Notification.Kind.ORDER_FAILED}
    about = Counter((n.event_id, n.user_id, n.kind) for n in notes)
    assert max(about.values(), default=0) <= 1, "one event notified one person twice"
    by_order: dict[str, list[Notification]] = {}
    for n in notes:
        if n.kind in kinds:
            by_order.setdefault(n.reference, []).append(n)
    assert set(by_order) <= {str(pk) for pk in orders}
    for pk, order in orders.items():
        mine = by_order.get(str(pk), [])
        if order.status == Order.Status.CANCELLED:
            assert mine == [], f"a cancelled order was notified: {mine}"
            continue
        kind = (
            Notification.Kind.ORDER_CONFIRMED
            if order.status == Order.Status.CONFIRMED
            else Notification.Kind.ORDER_FAILED
        )
        assert [(n.kind, n.user_id) for n in mine] == [(kind, order.customer_id)], (
            f"order {pk} ({order.status}): {mine}"
        )
        person = shop.person(order.customer_id)
        if person.changes_mind:
            assert mine[0].status in (Notification.Status.SENT, Notification.Status.SUPPRESSED)
        else:
            wanted = Notification.Status.SENT if person.order_updates else Notification.Status.SUPPRESSED
            assert mine[0].status == wanted, f"{person.name}: {mine[0].status} ({mine[0].reason})"


def _assert_article_notifications(shop: Shop, notes: list[Notification]) -> None:
    told = Counter((n.user_id, n.reference) for n in notes if n.kind == Notification.Kind.NEW_ARTICLE)
    assert max(told.values(), default=0) <= 1, "someone heard of one article twice"
    sent = {(n.user_id, n.reference) for n in notes if n.kind == Notification.Kind.NEW_ARTICLE and n.status == "sent"}
    assert {n.reference for n in notes if n.kind == Notification.Kind.NEW_ARTICLE} <= {str(a) for a in shop.articles}
    for article_id in shop.articles:
        for p in PEOPLE:
            key = (shop.users[p.name], str(article_id))
            if not p.changes_mind:
                assert (key in sent) == p.new_articles, f"{p.name} and article {article_id}: {told.get(key, 0)}"
                assert told.get(key, 0) == int(p.new_articles)


def _assert_emails_sent_at_most_once(
    notes: list[Notification], emails: Counter[tuple[str, str]], cut: CutAttempts
) -> tuple[int, int]:
    assert not [n for n in notes if n.status in (Notification.Status.FAILED, Notification.Status.PENDING)], (
        "a notification failed or stayed pending"
    )
    expected = Counter((n.to_email, n.subject) for n in notes if n.status == Notification.Status.SENT)
    assert max(expected.values(), default=0) == 1, "two sent notifications share an address and subject"
    missing = expected - emails
    assert not missing, f"notifications logged as sent whose email never left: {missing}"
    extra = emails - expected
    unexplained = extra - _resendable(notes, cut.failed)
    assert sum(unexplained.values()) <= cut.blind, f"emails sent more than once: {extra} ({cut})"
    return sum(emails.values()), sum(extra.values())


def _resendable(notes: list[Notification], failed: Counter[str]) -> Counter[tuple[str, str]]:
    """The emails the failed attempts may have sent (event id of the delivery -> its notification)."""
    by_key = {(n.user_id, n.kind, n.reference): n for n in notes if n.status == Notification.Status.SENT}
    commands = {
        str(e.event_id): e.payload
        for e in all_rows(OutboxEvent, event_id__in=list(failed), event_type="notifications.SendNewArticleEmail")
    }
    resendable: Counter[tuple[str, str]] = Counter()
    for event_id, times in failed.items():
        if event_id in commands:  # one subscriber's new-article email
            payload = commands[event_id]
            found = [by_key.get((payload["user_id"], Notification.Kind.NEW_ARTICLE, payload["article_id"]))]
        else:  # an order update: the notification is keyed by the order event itself
            found = [n for n in notes if str(n.event_id) == event_id and n.status == Notification.Status.SENT]
        for note in found:
            if note is not None:
                resendable[(note.to_email, note.subject)] += times
    return resendable


def _assert_projections_equal_sources() -> None:
    copies = {r.user_id: r for r in Recipient.objects.all()}
    for profile in UserProfile.objects.select_related("user"):
        copy = copies.pop(profile.user_id)
        assert (copy.email, copy.display_name, copy.preferences, copy.version) == (
            profile.user.email, profile.display_name, profile.preferences, profile.version,
        ), f"Recipient {profile.user_id} differs from its user"  # fmt: skip
    assert not copies, f"recipients without a user: {list(copies)}"
    assert set(KnownProduct.objects.values_list("sku", flat=True)) == set(
        StockItem.objects.values_list("sku", flat=True)
    )
    for article in Article.objects.all():
        copy = PublicArticle.objects.filter(article_id=article.pk).first()
        if article.status == Article.Status.PUBLISHED:
            assert copy is not None and copy.is_public, f"{article.slug} is published but not public"
            assert (copy.slug, copy.title, copy.body, copy.revision) == (
                article.slug, article.title, article.body, article.revision,
            ), f"the public copy of {article.slug} is not its latest revision"  # fmt: skip
        elif article.status == Article.Status.UNPUBLISHED:
            assert copy is not None and not copy.is_public and copy.revision == article.revision
        else:
            assert copy is None or not copy.is_public


def _assert_every_delivery_applied_once() -> None:
    unfinished = [
        (d.handler, d.status) for rows in everywhere(Delivery) for d in rows.exclude(status=Delivery.Status.PROCESSED)
    ]
    assert not unfinished, f"deliveries not processed: {unfinished}"
    deliveries = [pair for rows in everywhere(Delivery) for pair in rows.values_list("handler", "event_id")]
    applied = [pair for rows in everywhere(InboxRecord) for pair in rows.values_list("handler", "event_id")]
    assert len(applied) == len(set(applied)) == len(deliveries) == len(set(deliveries))
    assert set(applied) == set(deliveries), "an inbox record without a delivery, or a delivery never applied"


def _assert_dead_letters_planted(shop: Shop) -> None:
    letters = all_rows(DeadLetter)
    unexplained = [
        (letter.handler, letter.error_type, letter.error_message)
        for letter in letters
        if not any(_is_planted(letter, p) for p in shop.planted)
    ]
    assert not unexplained, f"dead letters nobody planted: {unexplained}"
    for p in shop.planted:
        assert any(_is_planted(letter, p) for letter in letters), (
            f"planted {p.error_type} for {p.handler} not dead-lettered"
        )


def _is_planted(letter: DeadLetter, planted: Planted) -> bool:
    return (letter.handler, letter.error_type, letter.envelope) == (
        planted.handler,
        planted.error_type,
        planted.envelope,
    )


def counts(shop: Shop) -> dict[str, int]:
    """What the report needs from the database: sends, applications, dead letters."""
    sent = sum(rows.aggregate(total=Sum("send_count"))["total"] or 0 for rows in everywhere(Delivery))
    return {
        "sent": sent + shop.sent_by_test,
        "processed": sum(rows.count() for rows in everywhere(InboxRecord)),
        "dead_lettered": sum(rows.count() for rows in everywhere(DeadLetter)),
        # Sent by a relay killed before its commit recorded the send, and processed meanwhile
        # (the handler's mark won over the rolled-back claim): their sends are not counted above.
        "unrecorded_sends": sum(
            rows.filter(send_count=0, status=Delivery.Status.PROCESSED).count() for rows in everywhere(Delivery)
        ),
    }
