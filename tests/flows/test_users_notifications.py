"""Users and notifications end to end: real worker processes on real Redis and the real database.

Emails are sent by the worker process (its locmem outbox is out of reach), so these tests read
the notification log, whose rows commit only together with the send.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from notifications.models import Notification, Recipient
from project.messaging.models import Delivery
from project.messaging.outbox.relay import delivery_message, send_acknowledgements, send_messages
from project.messaging.registry.databases import database_for
from tests.brokers import BrokerQueues
from tests.conftest import WorkerProcess, wait_until
from tests.factories.users import PASSWORD
from tests.messaging_rows import acknowledgement_queues, dead_letters, deliveries, everywhere
from tests.notifications.helpers import article_published, order_confirmed, register

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(worker_factory, clean_queues: BrokerQueues) -> WorkerProcess:
    # With a database per domain, the producers' workers mark their deliveries, told by acknowledgement.
    queues = ["users", "notifications", *acknowledgement_queues("notifications", "orders", "articles")]
    return worker_factory(queues, env={"DJANGO_SETTINGS_MODULE": "tests.notifications.worker_settings"})


def recipient(user_id: int, **expected: object) -> Recipient | None:
    return Recipient.objects.filter(user_id=user_id, **expected).first()


def notifications_settled() -> bool:
    # Split, notifications acknowledges by a row its relay sends (the sweep, in production).
    send_acknowledgements(using=database_for("notifications"))
    # Its producers' (users, orders, articles) deliveries, on each one's database.
    return not any(
        rows.filter(queue="notifications").exclude(status=Delivery.Status.PROCESSED).exists()
        for rows in everywhere(Delivery)
    )


def test_preferences_changed_through_the_api_reach_the_notifications_copy(worker: WorkerProcess) -> None:
    client = APIClient()
    registered = client.post(
        "/api/users/register/",
        {"username": "dora", "email": "dora@example.com", "password": PASSWORD, "display_name": "Dora"},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    user_id = registered.json()["id"]
    wait_until(lambda: recipient(user_id, email="dora@example.com", version=1), what="the registration to arrive")
    token = client.post("/api/auth/token/", {"username": "dora", "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    changed = client.patch("/api/users/me/preferences/", {"new_articles": True, "email_format": "text"}, format="json")
    assert changed.status_code == 200, changed.content
    copy = wait_until(lambda: recipient(user_id, version=2), what="the preference change to arrive")
    assert (copy.new_articles, copy.email_format, copy.order_updates) == (True, "text", True)


def test_an_order_confirmation_to_a_customer_who_turned_order_updates_off_is_suppressed(
    worker: WorkerProcess,
) -> None:
    bob = register("bob", order_updates=False)
    wait_until(lambda: recipient(bob.user_id), what="the registration to arrive")
    envelope = order_confirmed(customer_id=bob.user_id)
    notification = wait_until(
        lambda: Notification.objects.filter(event_id=envelope.event_id).first(), what="the notification to be logged"
    )
    assert (notification.status, notification.reason) == ("suppressed", "the customer turned order updates off")
    assert notification.sent_at is None


def test_an_order_update_for_an_unknown_customer_is_retried_then_logged_as_failed(worker: WorkerProcess) -> None:
    envelope = order_confirmed(customer_id=424242)
    notification = wait_until(
        lambda: Notification.objects.filter(event_id=envelope.event_id).first(),
        timeout=30,
        what="the notification to give up",
    )
    assert notification.status == "failed"
    assert notification.reason.startswith("unknown recipient: nothing was known about user 424242 2 seconds")
    assert worker.log().count("retrying in") >= 2
    assert not dead_letters("notifications").exists()


def test_subscribers_are_told_about_a_new_article_once_each_and_no_one_else(worker: WorkerProcess) -> None:
    alice, bob = register("alice", new_articles=True), register("bob", new_articles=True)
    carol = register("carol")
    wait_until(lambda: Recipient.objects.count() == 3, what="the registrations to arrive")
    envelope = article_published()
    wait_until(lambda: Notification.objects.filter(status="sent").count() == 2, what="both emails to be sent")
    wait_until(notifications_settled, what="every notifications delivery to be processed")
    sent = Notification.objects.filter(event_id=envelope.event_id, kind="new_article", status="sent")
    assert sorted(sent.values_list("user_id", flat=True)) == sorted([alice.user_id, bob.user_id])
    assert not Notification.objects.filter(user_id=carol.user_id).exists()


def test_an_order_confirmation_redelivered_by_the_broker_is_sent_once(worker: WorkerProcess) -> None:
    bob = register("bob")
    wait_until(lambda: recipient(bob.user_id), what="the registration to arrive")
    envelope = order_confirmed(customer_id=bob.user_id)
    wait_until(
        lambda: Notification.objects.filter(event_id=envelope.event_id, status="sent").exists(),
        what="the email to be sent",
    )
    delivery = deliveries("orders").select_related("event").get(event__event_id=envelope.event_id)
    send_messages([(delivery.queue, delivery_message(delivery))] * 2)
    duplicate = f"Duplicate of {envelope.event_id} for notifications.tell_customer_order_confirmed acknowledged"
    wait_until(lambda: worker.log().count(duplicate) == 2, what="both duplicates to be acknowledged")
    assert Notification.objects.filter(event_id=envelope.event_id).count() == 1
