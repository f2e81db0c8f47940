"""What the emails say: subjects, templates (notifications/templates/notifications/) and wording."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from notifications.models import Notification, Recipient

SUBJECTS = {
    Notification.Kind.ORDER_CONFIRMED: "Your order {order_ref} is confirmed",
    Notification.Kind.ORDER_FAILED: "We could not complete your order {order_ref}",
    Notification.Kind.NEW_ARTICLE: "New article: {title}",
}

# Reasons the shop gives for a failed order, and how to say them to a customer.
_FAILURE_WORDING = [
    (re.compile(r"^insufficient stock for (?P<sku>\S+)$", re.IGNORECASE), "we did not have enough {sku} in stock"),
    (re.compile(r"^unknown sku (?P<sku>\S+)$", re.IGNORECASE), "we do not sell an item called {sku}"),
]
_FALLBACK_WORDING = "something went wrong on our side while we prepared it"


def explain_order_failure(reason: str) -> str:
    """A failure reason in plain words: "insufficient stock for RARE-VASE" -> "we did not have
    enough RARE-VASE in stock". A reason we have no words for gets a general apology."""
    for pattern, wording in _FAILURE_WORDING:
        if match := pattern.match(reason.strip()):
            return wording.format(**match.groupdict())
    return _FALLBACK_WORDING


def order_ref(order_id: object) -> str:
    """The short order reference shown to customers: the first block of its id."""
    return str(order_id).split("-", 1)[0].upper()


def subject_for(kind: str, **context: Any) -> str:
    return SUBJECTS[kind].format(**context)[:200]


def build_email(*, kind: str, recipient: Recipient, subject: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    """A plain-text email, with an HTML alternative unless the recipient asked for text only."""
    context = {**context, "recipient": recipient, "greeting_name": recipient.display_name or "there"}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"notifications/{kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    )
    if recipient.email_format == Recipient.EmailFormat.HTML:
        message.attach_alternative(render_to_string(f"notifications/{kind}.html", context), "text/html")
    return message
