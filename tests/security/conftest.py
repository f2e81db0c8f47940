"""Fixtures of the security tests: the API's real rate limits with clean counters in Redis, and a
small world with something of everyone's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from articles.models import Article
from articles.services import article_create, article_publish, article_unpublish
from orders.models import Order
from orders.services import LineInput, order_place
from project.messaging.contract.context import correlation
from project.messaging.models import DeadLetter
from tests.factories.inventory import StockItemFactory
from tests.factories.notifications import NotificationFactory
from tests.factories.orders import KnownProductFactory
from tests.factories.publishing import PublicArticleFactory
from users.services import user_register

# The production defaults (project/settings.py; test_deploy_settings.py checks them there).
# tests/settings.py raises them for the rest of the suite, so tests here put them back.
REAL_RATES = {"login": "10/min", "registration": "10/hour", "order_placement": "30/min"}


def cache_redis() -> redis.Redis:
    """A connection of its own to the Redis behind Django's cache (not through Django)."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def throttle_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*throttle_*"))


def clear_throttle_counters() -> None:
    client = cache_redis()
    keys = throttle_keys(client)
    if keys:
        client.delete(*keys)


@pytest.fixture
def real_rate_limits() -> Iterator[dict[str, str]]:
    """The production rates, and counters that start (and end) at zero."""
    clear_throttle_counters()
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": REAL_RATES}):
        yield REAL_RATES
    clear_throttle_counters()


# --- A small world with something of everyone's: the permissions matrix and schemathesis --------

PASSWORD_SUFFIX = "alice-rides-a-crunchy-armchair"
ROLES = ("anonymous", "customer", "author", "staff", "superuser")
ARMCHAIR = "CRUNCHY-ARMCHAIR"
TABLE = "WOBBLY-TABLE"
ALICES_CORRELATION_ID = uuid.UUID("a11ce000-0000-4000-8000-00000000c0de")


@dataclass
class World:
    """Users for every role (plus ``bob`` and ``grace``, whose things are "other's" to everyone),
    an order of each, articles of the authors, a public article, notifications and API tokens."""

    users: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    articles: dict[str, Article] = field(default_factory=dict)
    public_slug: str = "the-crunchy-armchair-story"
    skus: tuple[str, ...] = (ARMCHAIR, TABLE)
    correlation_id: uuid.UUID = ALICES_CORRELATION_ID
    dead_letter: DeadLetter | None = None

    def token_header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[role]}"} if role in self.tokens else {}


def password_of(username: str) -> str:
    return f"{username}-{PASSWORD_SUFFIX}"


def _register(username: str, **flags: bool) -> Any:
    profile = user_register(username=username, email=f"{username}@example.com", password=password_of(username))
    user = profile.user
    if flags:
        for name, value in flags.items():
            setattr(user, name, value)
        user.save(update_fields=list(flags))
    return user


def _place_order(customer_id: int) -> Order:
    return order_place(
        customer_id=customer_id, lines=[LineInput(sku=ARMCHAIR, quantity=1, unit_price=Decimal("10.00"))]
    ).order


def _article(author: Any, title: str, *, publish: bool = False) -> Article:
    article = article_create(
        author_id=author.pk, author_name=author.username, title=title, body=f"{title}, told at length."
    )
    return article_publish(article_id=article.pk) if publish else article


def build_world() -> World:
    world = World()
    for sku in world.skus:
        StockItemFactory(sku=sku, on_hand=1000)
        KnownProductFactory(sku=sku)
    world.users = {
        "customer": _register("alice"),
        "author": _register("ada"),
        "staff": _register("stan", is_staff=True),
        "superuser": _register("root", is_staff=True, is_superuser=True),
        "other_customer": _register("bob"),
        "other_author": _register("grace"),
    }
    world.tokens = {role: Token.objects.create(user=user).key for role, user in world.users.items()}
    with correlation(ALICES_CORRELATION_ID):
        world.orders["customer"] = _place_order(world.users["customer"].pk)
    for role in ("author", "staff", "superuser", "other_customer"):
        world.orders[role] = _place_order(world.users[role].pk)
    world.articles = {
        "author": _article(world.users["author"], "Ada on armchairs"),
        "author_published": _article(world.users["author"], "Ada on tables", publish=True),
        "staff": _article(world.users["staff"], "Stan's stock notes"),
        "superuser": _article(world.users["superuser"], "Root's release notes"),
        "other_author": _article(world.users["other_author"], "Grace on lamps"),
        "other_author_published": _article(world.users["other_author"], "Grace on vases", publish=True),
    }
    unpublished = _article(world.users["other_author"], "Grace on chairs", publish=True)
    world.articles["other_author_unpublished"] = article_unpublish(article_id=unpublished.pk)
    PublicArticleFactory(slug=world.public_slug, title="The crunchy armchair story")
    for role in ("customer", "other_customer"):
        NotificationFactory(user_id=world.users[role].pk, to_email=world.users[role].email)
    world.dead_letter = _dead_letter()
    return world


def _dead_letter() -> DeadLetter:
    """A dead letter awaiting an operator (written directly: its handler never ran)."""
    now = timezone.now()
    return DeadLetter.objects.create(
        handler="notifications.tell_customer_order_confirmed",
        queue="notifications",
        event_id=uuid.UUID("dead1e77-0000-4000-8000-000000000001"),
        event_type="orders.OrderConfirmed",
        envelope={},
        error_type="smtplib.SMTPRecipientsRefused",
        error_message="the mailbox of a grumpy goose is full",
        fingerprint="grumpy-goose-mailbox",
        permanent=True,
        first_failed_at=now,
        last_failed_at=now,
    )


@pytest.fixture
def world(db: None) -> World:
    return build_world()
