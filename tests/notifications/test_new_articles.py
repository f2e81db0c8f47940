"""A published article is announced to every subscriber, once each, and to no one else."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from project.messaging.testing import TestBus
from tests.messaging_rows import outbox_events
from tests.notifications.helpers import article_published, register
from users import services as users

pytestmark = pytest.mark.django_db


def test_subscribers_get_one_new_article_email_each_and_others_none(bus: TestBus, mailoutbox) -> None:
    alice, bob = register("alice", new_articles=True), register("bob", new_articles=True, email_format="text")
    register("carol", new_articles=False)
    bus.drain()
    envelope = article_published(title="Why the crunchy armchair crunches")
    bus.drain(duplicate=True, order="shuffle", seed=3)
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    assert {m.subject for m in mailoutbox} == {"New article: Why the crunchy armchair crunches"}
    email = next(m for m in mailoutbox if m.to == ["alice@example.com"])
    assert "Ada Quill has published a new article" in email.body
    assert "It is the springs." in email.body and "<em>" not in email.body
    notifications = Notification.objects.order_by("user_id")
    assert [(n.user_id, n.kind, n.status) for n in notifications] == [
        (alice.user_id, "new_article", "sent"),
        (bob.user_id, "new_article", "sent"),
    ]
    assert {n.event_id for n in notifications} == {envelope.event_id}


def test_an_article_with_no_subscribers_sends_and_asks_for_nothing(bus: TestBus, mailoutbox) -> None:
    register("carol")
    bus.drain()
    article_published()
    bus.drain()
    assert mailoutbox == []
    assert not outbox_events("notifications").filter(event_type="notifications.SendNewArticleEmail").exists()


def test_a_subscriber_who_opts_out_before_their_email_goes_is_logged_as_suppressed(bus: TestBus, mailoutbox) -> None:
    alice = register("alice", new_articles=True)
    bus.drain()
    article_published()
    [published] = [a for a in bus.take_pending() if a.handler == "notifications.request_new_article_emails"]
    bus.deliver(published)  # the per-subscriber command is now waiting
    users.user_preferences_change(user_id=alice.user_id, new_articles=False)
    bus.drain(order="reverse")  # the opt-out is applied before the command
    assert mailoutbox == []
    notification = Notification.objects.get()
    assert (notification.status, notification.reason) == ("suppressed", "the user turned new-article emails off")


def test_an_article_republished_after_a_redraft_is_not_announced_again(bus: TestBus, mailoutbox) -> None:
    register("alice", new_articles=True)
    bus.drain()
    first = article_published(revision=2)
    bus.drain()
    article_published(article_id=first.payload["article_id"], revision=5)
    bus.drain(duplicate=True)
    assert len(mailoutbox) == 1
    assert outbox_events("notifications").filter(event_type="notifications.SendNewArticleEmail").count() == 1


def test_two_publications_of_one_article_handled_side_by_side_still_send_one_email(bus: TestBus, mailoutbox) -> None:
    alice = register("alice", new_articles=True)
    bus.drain()
    first = article_published(revision=2)
    article_published(article_id=first.payload["article_id"], revision=5)
    bus.drain()  # both fan-outs run before either email: two commands, one email
    assert outbox_events("notifications").filter(event_type="notifications.SendNewArticleEmail").count() == 2
    assert len(mailoutbox) == 1
    assert Notification.objects.get().user_id == alice.user_id
