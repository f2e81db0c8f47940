"""Customers hear about their orders once per event, in their format, unless they opted out."""

from __future__ import annotations

import pytest

from notifications.emails import explain_order_failure
from notifications.models import Notification
from project.messaging.inbox.consumer import Outcome, process
from project.messaging.testing import TestBus
from tests.messaging_rows import dead_letters, inbox_records
from tests.notifications.helpers import order_confirmed, order_failed, register
from users import services as users

pytestmark = pytest.mark.django_db


def test_a_confirmed_order_is_emailed_to_the_customer_in_text_and_html(bus: TestBus, mailoutbox) -> None:
    bob = register("bob")
    bus.drain()
    envelope = order_confirmed(customer_id=bob.user_id, total="149.90")
    bus.drain()
    [email] = mailoutbox
    ref = envelope.payload["order_id"].split("-")[0].upper()
    assert email.to == ["bob@example.com"]
    assert email.subject == f"Your order {ref} is confirmed"
    assert "Hello Bob," in email.body and "149.90" in email.body
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html" and f"<strong>{ref}</strong>" in html
    notification = Notification.objects.get()
    assert (notification.status, notification.kind, notification.user_id) == ("sent", "order_confirmed", bob.user_id)
    assert notification.event_id == envelope.event_id
    assert notification.reference == envelope.payload["order_id"]
    assert notification.sent_at is not None and notification.to_email == "bob@example.com"


def test_a_customer_who_prefers_text_gets_no_html_part(bus: TestBus, mailoutbox) -> None:
    bob = register("bob", email_format="text")
    bus.drain()
    order_confirmed(customer_id=bob.user_id)
    bus.drain()
    [email] = mailoutbox
    assert email.alternatives == []


def test_a_failed_order_tells_the_customer_why_in_plain_words(bus: TestBus, mailoutbox) -> None:
    bob = register("bob")
    bus.drain()
    order_failed(customer_id=bob.user_id, reason="insufficient stock for RARE-VASE")
    bus.drain()
    [email] = mailoutbox
    assert email.subject.startswith("We could not complete your order")
    assert "because we did not have enough RARE-VASE in stock." in email.body
    assert "insufficient stock" not in email.body
    assert Notification.objects.get().kind == Notification.Kind.ORDER_FAILED


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("insufficient stock for RARE-VASE", "we did not have enough RARE-VASE in stock"),
        ("unknown sku MYSTERY-BOX", "we do not sell an item called MYSTERY-BOX"),
        ("the reservation took too long", "something went wrong on our side while we prepared it"),
    ],
)
def test_failure_reasons_are_put_in_plain_words(reason: str, words: str) -> None:
    assert explain_order_failure(reason) == words


def test_an_order_update_to_a_customer_who_turned_them_off_is_logged_as_suppressed_and_not_sent(
    bus: TestBus, mailoutbox
) -> None:
    bob = register("bob")
    users.user_preferences_change(user_id=bob.user_id, order_updates=False)
    bus.drain()
    envelope = order_confirmed(customer_id=bob.user_id)
    bus.drain()
    assert mailoutbox == []
    notification = Notification.objects.get()
    assert (notification.status, notification.event_id, notification.sent_at) == ("suppressed", envelope.event_id, None)
    assert notification.reason == "the customer turned order updates off"


def test_every_event_delivered_twice_sends_each_email_exactly_once(bus: TestBus, mailoutbox) -> None:
    bob, carol = register("bob"), register("carol", email_format="text")
    order_confirmed(customer_id=bob.user_id)
    order_failed(customer_id=bob.user_id)
    order_confirmed(customer_id=carol.user_id)
    handled = bus.drain(duplicate=True)
    assert sorted((m.to[0], m.subject.split()[0]) for m in mailoutbox) == [
        ("bob@example.com", "We"),
        ("bob@example.com", "Your"),
        ("carol@example.com", "Your"),
    ]
    assert Notification.objects.filter(status="sent").count() == 3
    assert len([h for h in handled if h.result.outcome is Outcome.DUPLICATE]) == len(handled) // 2


def test_a_replay_after_the_inbox_forgot_the_event_sends_nothing_twice(bus: TestBus, mailoutbox) -> None:
    bob = register("bob")
    bus.drain()
    order_confirmed(customer_id=bob.user_id)
    [attempt] = bus.take_pending()
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    inbox_records("notifications").filter(handler="notifications.tell_customer_order_confirmed").delete()  # purged, say
    assert bus.deliver(attempt).outcome is Outcome.PROCESSED
    assert len(mailoutbox) == 1
    assert Notification.objects.count() == 1


def test_an_order_update_for_an_unknown_customer_is_retried_then_logged_as_failed(
    bus: TestBus, settings, mailoutbox
) -> None:
    settings.NOTIFICATIONS_UNKNOWN_RECIPIENT_GRACE_SECONDS = 60
    order_confirmed(customer_id=404)
    [attempt] = bus.take_pending()
    first = process(attempt)
    assert first.outcome is Outcome.RETRY and "not known yet" in first.error
    assert not Notification.objects.exists()
    settings.NOTIFICATIONS_UNKNOWN_RECIPIENT_GRACE_SECONDS = 0  # the grace has run out by the next attempt
    later = process(attempt.__class__(**{**attempt.__dict__, "attempt": 2}))
    assert later.outcome is Outcome.PROCESSED
    notification = Notification.objects.get()
    assert (notification.status, notification.user_id) == ("failed", 404)
    assert notification.reason.startswith("unknown recipient: nothing was known about user 404")
    assert mailoutbox == [] and not dead_letters("notifications").exists()


def test_a_customer_who_registers_during_the_retries_gets_the_email(bus: TestBus, settings, mailoutbox) -> None:
    settings.NOTIFICATIONS_UNKNOWN_RECIPIENT_GRACE_SECONDS = 60
    bob = register("bob")
    registered = bus.take_pending()  # UserRegistered is held up somewhere
    order_confirmed(customer_id=bob.user_id)
    [confirmed] = bus.take_pending()
    assert process(confirmed).outcome is Outcome.RETRY
    for attempt in registered:
        bus.deliver(attempt)
    assert process(confirmed.__class__(**{**confirmed.__dict__, "attempt": 2})).outcome is Outcome.PROCESSED
    assert [m.to for m in mailoutbox] == [["bob@example.com"]]


def test_a_refused_email_is_retried_then_logged_as_failed_with_the_servers_answer(
    bus: TestBus, settings, mailoutbox
) -> None:
    bob = register("bob")
    bus.drain()
    settings.EMAIL_BACKEND = "tests.notifications.backends.RefusingBackend"
    settings.NOTIFICATIONS_SEND_RETRY_SECONDS = 60
    order_confirmed(customer_id=bob.user_id)
    [attempt] = bus.take_pending()
    assert process(attempt).outcome is Outcome.RETRY
    assert not Notification.objects.exists()  # rolled back with the inbox record
    settings.NOTIFICATIONS_SEND_RETRY_SECONDS = 0
    assert process(attempt.__class__(**{**attempt.__dict__, "attempt": 2})).outcome is Outcome.PROCESSED
    notification = Notification.objects.get()
    assert notification.status == "failed"
    assert notification.reason == "the email could not be sent: Connection unexpectedly closed"
