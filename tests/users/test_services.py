"""Users services: what they store, what they publish, and what they refuse."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from project.messaging.models import OutboxEvent
from project.messaging.testing import TestBus
from users import services
from users.events import EmailPreferences
from users.models import UserProfile

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-staple"


def published(event_type: str) -> list[dict]:
    events = OutboxEvent.objects.filter(event_type=event_type)
    return [e.payload for e in sorted(events, key=lambda e: (e.occurred_at, e.payload.get("version", 0)))]


def register_bob(**overrides) -> UserProfile:
    fields = {"username": "bob", "email": "bob@example.com", "password": STRONG, "display_name": "Bob the Builder"}
    return services.user_register(**{**fields, **overrides})


def test_registering_creates_the_user_and_profile_and_publishes_user_registered_at_version_one(bus: TestBus) -> None:
    profile = register_bob(preferences=EmailPreferences(new_articles=True, email_format="text"))
    user = get_user_model().objects.get(username="bob")
    assert user.check_password(STRONG)
    assert (profile.user, profile.display_name, profile.version) == (user, "Bob the Builder", 1)
    [event] = published("users.UserRegistered")
    assert event == {
        "user_id": user.pk,
        "email": "bob@example.com",
        "display_name": "Bob the Builder",
        "preferences": {"order_updates": True, "new_articles": True, "email_format": "text"},
        "version": 1,
    }
    assert OutboxEvent.objects.get().aggregate_version == 1


def test_registering_without_preferences_or_display_name_uses_the_defaults(bus: TestBus) -> None:
    profile = register_bob(display_name="  ")
    assert profile.display_name == "bob"
    assert profile.preferences == EmailPreferences(order_updates=True, new_articles=False, email_format="html")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "BOB"}, "username"),
        ({"email": "Bob@Example.com"}, "email"),
        ({"email": "bob-at-example"}, "email"),
        ({"password": "12345678"}, "password"),
        ({"password": "bob"}, "password"),
    ],
)
def test_registering_refuses_taken_names_bad_emails_and_weak_passwords_and_changes_nothing(
    bus: TestBus, overrides: dict, field: str
) -> None:
    register_bob()
    with pytest.raises(services.UserInputError) as refused:
        register_bob(**{"username": "robert", "email": "robert@example.com", **overrides})
    assert field in refused.value.errors
    assert get_user_model().objects.count() == 1
    assert len(published("users.UserRegistered")) == 1


def test_changing_preferences_publishes_the_full_new_preferences_with_the_next_version(bus: TestBus) -> None:
    profile = register_bob()
    services.user_preferences_change(user_id=profile.user_id, order_updates=False)
    changed = services.user_preferences_change(user_id=profile.user_id, email_format="text")
    assert changed.version == 3
    assert published("users.UserEmailPreferencesChanged") == [
        {
            "user_id": profile.user_id,
            "version": 2,
            "preferences": {"order_updates": False, "new_articles": False, "email_format": "html"},
        },
        {
            "user_id": profile.user_id,
            "version": 3,
            "preferences": {"order_updates": False, "new_articles": False, "email_format": "text"},
        },
    ]


def test_changing_preferences_to_what_they_already_are_publishes_nothing_and_keeps_the_version(bus: TestBus) -> None:
    profile = register_bob()
    same = services.user_preferences_change(user_id=profile.user_id, order_updates=True, email_format="html")
    assert same.version == 1
    assert published("users.UserEmailPreferencesChanged") == []


def test_an_invalid_preference_is_refused_naming_the_field(bus: TestBus) -> None:
    profile = register_bob()
    with pytest.raises(services.UserInputError) as refused:
        services.user_preferences_change(user_id=profile.user_id, email_format="pdf")
    assert list(refused.value.errors) == ["email_format"]
    assert UserProfile.objects.get().version == 1


def test_changing_preferences_of_a_user_without_profile_is_refused(bus: TestBus) -> None:
    user = get_user_model().objects.create_user("ghost", password=STRONG)
    with pytest.raises(services.ProfileNotFound):
        services.user_preferences_change(user_id=user.pk, new_articles=True)


def test_changing_the_email_updates_the_auth_user_and_publishes_user_email_changed(bus: TestBus) -> None:
    profile = register_bob()
    services.user_email_change(user_id=profile.user_id, email="bob@builders.example")
    assert get_user_model().objects.get(pk=profile.user_id).email == "bob@builders.example"
    assert published("users.UserEmailChanged") == [
        {"user_id": profile.user_id, "email": "bob@builders.example", "version": 2}
    ]


def test_changing_the_email_to_another_users_email_is_refused_and_changes_nothing(bus: TestBus) -> None:
    register_bob()
    carol = services.user_register(username="carol", email="carol@example.com", password=STRONG)
    with pytest.raises(services.UserInputError) as refused:
        services.user_email_change(user_id=carol.user_id, email="BOB@example.com")
    assert list(refused.value.errors) == ["email"]
    assert get_user_model().objects.get(pk=carol.user_id).email == "carol@example.com"
    assert published("users.UserEmailChanged") == []


def test_updating_name_and_email_publishes_one_event_for_each_with_its_own_version(bus: TestBus) -> None:
    profile = register_bob()
    updated = services.user_profile_update(user_id=profile.user_id, display_name="Robert", email="rob@example.com")
    assert (updated.display_name, updated.version) == ("Robert", 3)
    assert published("users.UserDisplayNameChanged") == [
        {"user_id": profile.user_id, "display_name": "Robert", "version": 2}
    ]
    assert published("users.UserEmailChanged") == [
        {"user_id": profile.user_id, "email": "rob@example.com", "version": 3}
    ]


def test_an_update_with_one_bad_part_changes_neither_part(bus: TestBus) -> None:
    profile = register_bob()
    with pytest.raises(services.UserInputError) as refused:
        services.user_profile_update(user_id=profile.user_id, display_name="Robert", email="not-an-email")
    assert list(refused.value.errors) == ["email"]
    profile.refresh_from_db()
    assert (profile.display_name, profile.version) == ("Bob the Builder", 1)
    assert OutboxEvent.objects.count() == 1  # UserRegistered only


def test_ensuring_a_profile_creates_it_once_for_an_account_made_elsewhere(bus: TestBus) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", STRONG)
    first, created = services.user_profile_ensure(user_id=admin.pk, display_name="Root")
    again, created_again = services.user_profile_ensure(user_id=admin.pk, display_name="Someone else")
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk and again.display_name == "Root"
    assert [e["user_id"] for e in published("users.UserRegistered")] == [admin.pk]
