"""Stand-ins for other domains' producers: publish one of their events, as they would.

Notifications only ever sees these events, so its tests publish them directly instead of
driving the orders saga or the articles workflow.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from articles.events import ArticlePublished
from orders.events import OrderConfirmed, OrderFailed
from project.messaging.contract.events import Envelope, Message
from project.messaging.outbox.publish import publish
from project.messaging.registry.databases import database_for
from users import services as users
from users.events import EmailPreferences
from users.models import UserProfile

STRONG = "correct-horse-battery-staple"


def publish_now(message: Message) -> Envelope:
    """Publish as a producer's service does: inside a transaction on the producer's database
    (committed here in flow tests)."""
    with transaction.atomic(using=database_for(message.producer())):
        return publish(message)


def order_confirmed(*, customer_id: int, total: str = "149.90", order_id: uuid.UUID | None = None) -> Envelope:
    return publish_now(OrderConfirmed(order_id=order_id or uuid.uuid4(), customer_id=customer_id, total=Decimal(total)))


def order_failed(*, customer_id: int, reason: str = "insufficient stock for RARE-VASE") -> Envelope:
    return publish_now(OrderFailed(order_id=uuid.uuid4(), customer_id=customer_id, reason=reason))


def article_published(
    *, title: str = "Why the crunchy armchair crunches", article_id: uuid.UUID | None = None, revision: int = 2
) -> Envelope:
    return publish_now(
        ArticlePublished(
            article_id=article_id or uuid.uuid4(),
            slug="why-the-crunchy-armchair-crunches",
            title=title,
            body="<p>It is the <em>springs</em>. Mostly the springs, and a little the walnut shells.</p>",
            author_id=1,
            author_name="Ada Quill",
            revision=revision,
            published_at=timezone.now(),
        )
    )


def register(username: str, **preferences: object) -> UserProfile:
    """A real registration through the users service (UserRegistered goes to the outbox)."""
    return users.user_register(
        username=username,
        email=f"{username}@example.com",
        password=STRONG,
        display_name=username.title(),
        preferences=EmailPreferences(**preferences),
    )
