"""Notifications' reactions to users, orders and articles events. Each handler calls one service.

The messaging layer runs each handler once per event, in one transaction with its inbox record.
The event's id and time come from its envelope: the id keys the notification log, the time
bounds how long a notification for a not-yet-known user is retried.
"""

from __future__ import annotations

from articles.events import ArticlePublished
from notifications import services
from notifications.events import SendNewArticleEmail
from orders.events import OrderConfirmed, OrderFailed
from project.messaging import Envelope, PermanentError, current_envelope
from users.events import UserDisplayNameChanged, UserEmailChanged, UserEmailPreferencesChanged, UserRegistered


def _envelope() -> Envelope:
    envelope = current_envelope()
    if envelope is None:
        raise PermanentError("A notifications handler ran outside the messaging consumer: no event id to key on.")
    return envelope


def add_recipient_when_user_registered(event: UserRegistered) -> None:
    services.recipient_apply(
        user_id=event.user_id,
        version=event.version,
        email=event.email,
        display_name=event.display_name,
        preferences=event.preferences,
    )


def update_recipient_preferences(event: UserEmailPreferencesChanged) -> None:
    services.recipient_apply(user_id=event.user_id, version=event.version, preferences=event.preferences)


def update_recipient_email(event: UserEmailChanged) -> None:
    services.recipient_apply(user_id=event.user_id, version=event.version, email=event.email)


def update_recipient_display_name(event: UserDisplayNameChanged) -> None:
    services.recipient_apply(user_id=event.user_id, version=event.version, display_name=event.display_name)


def tell_customer_order_confirmed(event: OrderConfirmed) -> None:
    envelope = _envelope()
    services.order_confirmation_notify(
        event_id=envelope.event_id,
        occurred_at=envelope.occurred_at,
        user_id=event.customer_id,
        order_id=event.order_id,
        total=event.total,
    )


def tell_customer_order_failed(event: OrderFailed) -> None:
    envelope = _envelope()
    services.order_failure_notify(
        event_id=envelope.event_id,
        occurred_at=envelope.occurred_at,
        user_id=event.customer_id,
        order_id=event.order_id,
        reason=event.reason,
    )


def request_new_article_emails(event: ArticlePublished) -> None:
    services.new_article_notifications_request(
        event_id=_envelope().event_id,
        article_id=event.article_id,
        slug=event.slug,
        title=event.title,
        author_name=event.author_name,
        body=event.body,
    )


def send_new_article_email(command: SendNewArticleEmail) -> None:
    services.new_article_notify(
        event_id=command.article_event_id,
        occurred_at=_envelope().occurred_at,
        user_id=command.user_id,
        article_id=command.article_id,
        title=command.title,
        author_name=command.author_name,
        excerpt=command.excerpt,
    )


SUBSCRIPTIONS = {
    UserRegistered: [add_recipient_when_user_registered],
    UserEmailPreferencesChanged: [update_recipient_preferences],
    UserEmailChanged: [update_recipient_email],
    UserDisplayNameChanged: [update_recipient_display_name],
    OrderConfirmed: [tell_customer_order_confirmed],
    OrderFailed: [tell_customer_order_failed],
    ArticlePublished: [request_new_article_emails],
    SendNewArticleEmail: [send_new_article_email],
}
