"""Factories of the notifications domain: its copy of users, and notification log rows.

Rows are written directly (no users events): for model, selector, admin and API tests.
"""

from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from notifications.models import Notification, Recipient
from project.messaging import database_for


class RecipientFactory(factory.django.DjangoModelFactory):
    """A fully known recipient, as if its UserRegistered (version 1) had been applied."""

    class Meta:
        model = Recipient
        database = database_for("notifications")
        django_get_or_create = ("user_id",)

    user_id = factory.Sequence(lambda n: 7000 + n)
    email = factory.LazyAttribute(lambda o: f"reader-{o.user_id}@example.com")
    display_name = factory.LazyAttribute(lambda o: f"Reader {o.user_id}")
    order_updates = True
    new_articles = False
    email_format = Recipient.EmailFormat.HTML
    version = 1
    email_version = 1
    display_name_version = 1
    preferences_version = 1


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification
        database = database_for("notifications")

    class Params:
        sent = factory.Trait(status=Notification.Status.SENT, sent_at=factory.LazyFunction(timezone.now))

    user_id = factory.Sequence(lambda n: 7000 + n)
    kind = Notification.Kind.ORDER_CONFIRMED
    event_id = factory.LazyFunction(uuid.uuid4)
    status = Notification.Status.SUPPRESSED
    reason = "the customer turned order updates off"
    subject = "Your order CAFEBABE is confirmed"
    to_email = factory.LazyAttribute(lambda o: f"reader-{o.user_id}@example.com")
    reference = factory.LazyFunction(lambda: str(uuid.uuid4()))
