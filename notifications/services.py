"""Notifications use cases. All of them run inside a handler's inbox transaction (plain atomic).

Sending is keyed, not hoped for. For each (event, user, kind) the service first inserts a
Notification row, whose unique constraint is the guard, then sends the email through Django's
email framework, then marks the row sent; all in the transaction that also records the event in
the handler's inbox. A redelivered or replayed event therefore finds its row (or its inbox
record) and sends nothing.

What remains at-least-once, honestly: the email leaves the process before the transaction
commits. If the process dies, or the commit fails, after the SMTP server accepted the message
and before the commit, the row and the inbox record roll back with it and the retry sends that
one email again. Sending after commit would trade this for the opposite fault (a committed
"sent" row for an email that never left), so the window is kept as small as one email: the
new-article fan-out sends each subscriber's email in a transaction of its own.

Sending inside the transaction also means the transaction stays open while the mail server
answers (on SQLite, holding the write lock): EMAIL_TIMEOUT bounds that wait.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import Truncator

from notifications import emails, selectors
from notifications.events import SendNewArticleEmail
from notifications.models import Notification, Recipient
from project.messaging import RetryableError, database_for, publish
from users.events import EmailPreferences

# The database this domain's rows and its outbox live in (its own, or the default): every
# service's transaction runs there, so that what it publishes commits with what it changes.
DATABASE = database_for("notifications")

logger = logging.getLogger(__name__)

DEFAULT_UNKNOWN_RECIPIENT_GRACE_SECONDS = 20.0
DEFAULT_SEND_RETRY_SECONDS = 20.0


def unknown_recipient_grace_seconds() -> float:
    """How long after an event a still unknown recipient is waited for (retried) before giving up."""
    return float(
        getattr(settings, "NOTIFICATIONS_UNKNOWN_RECIPIENT_GRACE_SECONDS", DEFAULT_UNKNOWN_RECIPIENT_GRACE_SECONDS)
    )


def send_retry_seconds() -> float:
    """How long after an event an email the mail server refused is retried before giving up."""
    return float(getattr(settings, "NOTIFICATIONS_SEND_RETRY_SECONDS", DEFAULT_SEND_RETRY_SECONDS))


@dataclass(frozen=True)
class Cause:
    """The event a notification answers: its id keys the notification log, its age bounds retries."""

    event_id: UUID
    occurred_at: datetime

    def older_than(self, seconds: float) -> bool:
        return (timezone.now() - self.occurred_at).total_seconds() >= seconds


# --- The projection ---------------------------------------------------------------------------


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def recipient_apply(
    *,
    user_id: int,
    version: int,
    email: str | None = None,
    display_name: str | None = None,
    preferences: EmailPreferences | None = None,
) -> Recipient:
    """Fold one users event into the local copy of that user.

    Each part given is taken only if the event is newer than the event that part came from, so
    any order of delivery, duplicates included, ends at the newest state. The first event about
    a user creates the copy, whichever it is; a UserRegistered older than everything held changes
    nothing. Joins the handler's inbox transaction.
    """
    # get_or_create survives a concurrent first event for the same user (unique user_id); the row
    # lock then applies concurrent events for one user one after the other.
    Recipient.objects.get_or_create(user_id=user_id)
    recipient = Recipient.objects.select_for_update().get(user_id=user_id)
    if recipient.apply(version=version, email=email, display_name=display_name, preferences=preferences):
        recipient.save()
    else:
        logger.info("Users event v%s for user %s is not newer than the copy (v%s)", version, user_id, recipient.version)
    return recipient


@transaction.atomic(using=DATABASE)
def recipients_reset() -> int:
    """Empty the Recipient projection before it is rebuilt from the users events.

    Only for ``manage.py replay_events --from-scratch``, which calls it in the same transaction
    that replays every users event: readers never see the table empty. Returns the rows removed.
    """
    removed, _ = Recipient.objects.all().delete()
    return removed


# --- Notifications ----------------------------------------------------------------------------


def _claim(cause: Cause, *, user_id: int, kind: str, status: str, reference: str, **fields: Any) -> Notification | None:
    """Insert the log row for (event, user, kind); None if it exists already (nothing to do)."""
    try:
        with transaction.atomic(using=DATABASE):
            return Notification.objects.create(
                event_id=cause.event_id, user_id=user_id, kind=kind, status=status, reference=reference, **fields
            )
    except IntegrityError:
        logger.info("Notification %s for user %s about event %s exists already", kind, user_id, cause.event_id)
        return None


def _known_recipient_or_retry(cause: Cause, *, user_id: int, kind: str, reference: str) -> Recipient | None:
    """The recipient if known. If not: retry while the users events may still be on their way,
    then record a failed notification (and return None) rather than drop it silently."""
    recipient = selectors.recipient_get(user_id=user_id)
    if recipient is not None and recipient.is_known:
        return recipient
    grace = unknown_recipient_grace_seconds()
    if not cause.older_than(grace):
        raise RetryableError(f"Recipient {user_id} is not known yet (no users events received for them).")
    _claim(
        cause,
        user_id=user_id,
        kind=kind,
        status=Notification.Status.FAILED,
        reference=reference,
        reason=f"unknown recipient: nothing was known about user {user_id} {grace:g} seconds after the event",
    )
    return None


def _send(
    cause: Cause,
    *,
    recipient: Recipient,
    kind: str,
    reference: str,
    subject_context: dict[str, Any],
    context: dict[str, Any],
) -> Notification | None:
    subject = emails.subject_for(kind, **subject_context)
    notification = _claim(
        cause,
        user_id=recipient.user_id,
        kind=kind,
        status=Notification.Status.PENDING,
        reference=reference,
        subject=subject,
        to_email=recipient.email,
    )
    if notification is None:
        return None
    message = emails.build_email(kind=kind, recipient=recipient, subject=subject, context=context)
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        if not cause.older_than(send_retry_seconds()):
            # Rolls back the row with the inbox record: the retry starts afresh.
            raise RetryableError(f"Email to user {recipient.user_id} could not be sent: {exc!r}") from exc
        notification.mark_failed(f"the email could not be sent: {exc}")
    else:
        notification.mark_sent()
    notification.save(update_fields=["status", "reason", "sent_at"])
    return notification


def _suppress(cause: Cause, *, user_id: int, kind: str, reference: str, reason: str) -> Notification | None:
    return _claim(
        cause, user_id=user_id, kind=kind, status=Notification.Status.SUPPRESSED, reference=reference, reason=reason
    )


def _notify_order_update(
    cause: Cause, *, user_id: int, kind: str, order_id: UUID, context: dict[str, Any]
) -> Notification | None:
    reference = str(order_id)
    recipient = _known_recipient_or_retry(cause, user_id=user_id, kind=kind, reference=reference)
    if recipient is None:
        return None
    if not recipient.order_updates:
        return _suppress(
            cause, user_id=user_id, kind=kind, reference=reference, reason="the customer turned order updates off"
        )
    ref = emails.order_ref(order_id)
    return _send(
        cause,
        recipient=recipient,
        kind=kind,
        reference=reference,
        subject_context={"order_ref": ref},
        context={**context, "order_ref": ref},
    )


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_confirmation_notify(
    *, event_id: UUID, occurred_at: datetime, user_id: int, order_id: UUID, total: Decimal
) -> Notification | None:
    """Tell the customer their order is confirmed, unless they turned order updates off (then the
    log says suppressed). An unknown customer is retried, then logged as failed with the reason.
    Joins the handler's inbox transaction; see the module docstring for the sending guarantee."""
    return _notify_order_update(
        Cause(event_id, occurred_at),
        user_id=user_id,
        kind=Notification.Kind.ORDER_CONFIRMED,
        order_id=order_id,
        context={"total": total},
    )


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_failure_notify(
    *, event_id: UUID, occurred_at: datetime, user_id: int, order_id: UUID, reason: str
) -> Notification | None:
    """Tell the customer their order failed, and why in plain words. Same rules as the confirmation."""
    return _notify_order_update(
        Cause(event_id, occurred_at),
        user_id=user_id,
        kind=Notification.Kind.ORDER_FAILED,
        order_id=order_id,
        context={"explanation": emails.explain_order_failure(reason), "reason": reason},
    )


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def new_article_notifications_request(
    *, event_id: UUID, article_id: UUID, slug: str, title: str, author_name: str, body: str
) -> int:
    """Ask for one new-article email per user who opted in (and no one else): one command each.

    Sends nothing itself: each SendNewArticleEmail is applied in its own transaction, so a fault
    while writing to one subscriber never re-sends the others' emails. An article is new once:
    users already told about it (it was republished) are left out, and the log's (user, article)
    constraint stops the rare race. Joins the handler's inbox transaction, so a duplicate
    ArticlePublished requests nothing twice. Returns how many were requested.
    """
    excerpt = Truncator(strip_tags(body)).words(40)
    count = 0
    for user_id in list(selectors.recipient_ids_wanting_new_articles(article_id=article_id)):
        publish(
            SendNewArticleEmail(
                user_id=user_id,
                article_event_id=event_id,
                article_id=article_id,
                slug=slug,
                title=title,
                author_name=author_name,
                excerpt=excerpt,
            )
        )
        count += 1
    return count


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def new_article_notify(
    *,
    event_id: UUID,
    occurred_at: datetime,
    user_id: int,
    article_id: UUID,
    title: str,
    author_name: str,
    excerpt: str,
) -> Notification | None:
    """Email one subscriber about a new article (``event_id``: the ArticlePublished event's).

    Re-reads the preferences: a subscriber who opted out since the article was published is
    logged as suppressed. Joins the handler's inbox transaction.
    """
    cause = Cause(event_id, occurred_at)
    kind, reference = Notification.Kind.NEW_ARTICLE, str(article_id)
    recipient = _known_recipient_or_retry(cause, user_id=user_id, kind=kind, reference=reference)
    if recipient is None:
        return None
    if not recipient.new_articles:
        return _suppress(
            cause, user_id=user_id, kind=kind, reference=reference, reason="the user turned new-article emails off"
        )
    return _send(
        cause,
        recipient=recipient,
        kind=kind,
        reference=reference,
        subject_context={"title": title},
        context={"title": title, "author_name": author_name, "excerpt": excerpt},
    )
