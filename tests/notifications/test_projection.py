"""The Recipient copy is built from users events only, and converges whatever the delivery order."""

from __future__ import annotations

import pytest

from notifications.models import Recipient
from project.messaging.testing import TestBus
from tests.notifications.helpers import publish_now, register
from users import services as users
from users.events import EmailPreferences, UserEmailChanged, UserEmailPreferencesChanged, UserRegistered

pytestmark = pytest.mark.django_db


def copy_of(user_id: int) -> Recipient:
    return Recipient.objects.get(user_id=user_id)


def test_a_registration_creates_a_known_recipient_with_the_users_details(bus: TestBus) -> None:
    bob = register("bob", new_articles=True, email_format="text")
    bus.drain()
    recipient = copy_of(bob.user_id)
    assert (recipient.email, recipient.display_name, recipient.version) == ("bob@example.com", "Bob", 1)
    assert recipient.preferences == EmailPreferences(order_updates=True, new_articles=True, email_format="text")
    assert recipient.is_known


def test_two_preference_changes_delivered_in_reverse_order_end_at_the_later_one(bus: TestBus) -> None:
    bob = register("bob")
    bus.drain()
    users.user_preferences_change(user_id=bob.user_id, new_articles=True)
    users.user_preferences_change(user_id=bob.user_id, new_articles=False, email_format="text")
    bus.drain(order="reverse")
    recipient = copy_of(bob.user_id)
    assert recipient.preferences == EmailPreferences(order_updates=True, new_articles=False, email_format="text")
    assert (recipient.version, recipient.preferences_version) == (3, 3)


def test_a_late_preference_change_is_still_applied_after_a_newer_email_change(bus: TestBus) -> None:
    bob = register("bob")
    bus.drain()
    users.user_preferences_change(user_id=bob.user_id, order_updates=False)  # v2
    users.user_email_change(user_id=bob.user_id, email="bob@builders.example")  # v3
    bus.drain(order="reverse")
    recipient = copy_of(bob.user_id)
    assert (recipient.email, recipient.order_updates, recipient.version) == ("bob@builders.example", False, 3)


def test_a_registration_older_than_what_is_held_changes_nothing(bus: TestBus) -> None:
    publish_now(UserEmailChanged(user_id=42, email="new@example.com", version=3))
    publish_now(UserEmailPreferencesChanged(user_id=42, preferences=EmailPreferences(new_articles=True), version=2))
    bus.drain()
    before = copy_of(42)
    assert before.is_known and before.display_name == ""
    publish_now(
        UserRegistered(
            user_id=42, email="old@example.com", display_name="Zed", preferences=EmailPreferences(), version=1
        )
    )
    bus.drain()
    after = copy_of(42)
    # Only the part nothing newer was known about (the display name) is taken from it.
    assert (after.email, after.new_articles, after.display_name, after.version) == (
        "new@example.com",
        True,
        "Zed",
        3,
    )
    publish_now(
        UserRegistered(
            user_id=42, email="old@example.com", display_name="Zed II", preferences=EmailPreferences(), version=1
        )
    )
    bus.drain()
    assert copy_of(42).display_name == "Zed"


def test_a_change_that_arrives_before_the_registration_leaves_the_recipient_unknown_until_then(bus: TestBus) -> None:
    publish_now(UserEmailPreferencesChanged(user_id=7, preferences=EmailPreferences(order_updates=False), version=2))
    bus.drain()
    assert not copy_of(7).is_known
    publish_now(
        UserRegistered(
            user_id=7, email="seven@example.com", display_name="Seven", preferences=EmailPreferences(), version=1
        )
    )
    bus.drain()
    recipient = copy_of(7)
    assert recipient.is_known
    assert (recipient.email, recipient.order_updates, recipient.version) == ("seven@example.com", False, 2)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_whole_history_delivered_twice_and_shuffled_ends_at_the_newest_state(bus: TestBus, seed: int) -> None:
    bob = register("bob")
    users.user_preferences_change(user_id=bob.user_id, new_articles=True)
    users.user_profile_update(user_id=bob.user_id, display_name="Robert", email="robert@example.com")
    users.user_preferences_change(user_id=bob.user_id, order_updates=False, email_format="text")
    users.user_email_change(user_id=bob.user_id, email="rob@example.com")
    bus.drain(duplicate=True, order="shuffle", seed=seed)
    recipient = copy_of(bob.user_id)
    assert (recipient.email, recipient.display_name, recipient.version) == ("rob@example.com", "Robert", 6)
    assert recipient.preferences == EmailPreferences(order_updates=False, new_articles=True, email_format="text")
    assert Recipient.objects.count() == 1
