"""The users API: register, read and change one's own account and email preferences."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from project.messaging.models import OutboxEvent
from tests.factories.users import PASSWORD, UserFactory, UserProfileFactory
from users.models import UserProfile

pytestmark = pytest.mark.django_db

REGISTER = "/api/users/register/"
ME = "/api/users/me/"
PREFERENCES = "/api/users/me/preferences/"


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def alice() -> UserProfile:
    return UserProfileFactory(user__username="alice", user__email="alice@example.com", display_name="Alice")


@pytest.fixture
def as_alice(alice: UserProfile) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice.user)
    return client


def registration(**overrides) -> dict:
    return {
        "username": "dora",
        "email": "dora@example.com",
        "password": PASSWORD,
        "display_name": "Dora the Explorer",
        **overrides,
    }


def test_anyone_can_register_and_then_log_in_with_a_token(anonymous: APIClient) -> None:
    response = anonymous.post(
        REGISTER,
        registration(preferences={"order_updates": False, "new_articles": True, "email_format": "text"}),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "dora" and body["display_name"] == "Dora the Explorer" and body["version"] == 1
    assert body["preferences"] == {"order_updates": False, "new_articles": True, "email_format": "text"}
    assert "password" not in body
    assert OutboxEvent.objects.filter(event_type="users.UserRegistered").count() == 1
    token = anonymous.post("/api/auth/token/", {"username": "dora", "password": PASSWORD}).json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(ME).json()["email"] == "dora@example.com"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "alice"}, "username"),
        ({"email": "ALICE@example.com"}, "email"),
        ({"email": "dora-at-example"}, "email"),
        ({"password": "password"}, "password"),
        ({"password": "dora12"}, "password"),
        ({"username": "no spaces please"}, "username"),
        ({"preferences": {"email_format": "pdf"}}, "preferences"),
        ({"is_staff": True}, "is_staff"),
    ],
)
def test_registering_with_bad_input_is_a_400_naming_the_field_and_creates_nothing(
    anonymous: APIClient, alice: UserProfile, overrides: dict, field: str
) -> None:
    response = anonymous.post(REGISTER, registration(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert get_user_model().objects.count() == 1  # alice only
    assert not OutboxEvent.objects.exists()


def test_registering_without_a_password_is_a_400(anonymous: APIClient) -> None:
    data = registration()
    del data["password"]
    response = anonymous.post(REGISTER, data, format="json")
    assert response.status_code == 400 and "password" in response.json()["errors"]


def test_a_user_reads_their_own_account(as_alice: APIClient, alice: UserProfile) -> None:
    body = as_alice.get(ME).json()
    assert body == {
        "id": alice.user_id,
        "username": "alice",
        "email": "alice@example.com",
        "display_name": "Alice",
        "preferences": {"order_updates": True, "new_articles": False, "email_format": "html"},
        "version": 1,
    }


def test_a_user_changes_their_display_name_and_email(as_alice: APIClient) -> None:
    response = as_alice.patch(ME, {"display_name": "Alice Liddell", "email": "alice@wonderland.example"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["display_name"], response.json()["email"]) == ("Alice Liddell", "alice@wonderland.example")
    assert sorted(OutboxEvent.objects.values_list("event_type", flat=True)) == [
        "users.UserDisplayNameChanged",
        "users.UserEmailChanged",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "bob@example.com"}, "email"),
        ({"email": "nope"}, "email"),
        ({"display_name": ""}, "display_name"),
        ({"username": "queen"}, "username"),
    ],
)
def test_a_bad_account_change_is_a_400_naming_the_field_and_changes_nothing(
    as_alice: APIClient, alice: UserProfile, change: dict, field: str
) -> None:
    UserFactory(username="bob", email="bob@example.com")
    response = as_alice.patch(ME, change, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    alice.refresh_from_db()
    assert (alice.user.email, alice.user.username, alice.display_name, alice.version) == (
        "alice@example.com",
        "alice",
        "Alice",
        1,
    )
    assert not OutboxEvent.objects.exists()


def test_a_user_turns_on_new_article_emails_and_keeps_the_rest(as_alice: APIClient, alice: UserProfile) -> None:
    response = as_alice.patch(PREFERENCES, {"new_articles": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"order_updates": True, "new_articles": True, "email_format": "html"}
    assert as_alice.get(PREFERENCES).json() == response.json()
    event = OutboxEvent.objects.get(event_type="users.UserEmailPreferencesChanged")
    assert event.payload["version"] == 2 and event.payload["preferences"]["new_articles"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email_format": "pdf"}, "email_format"),
        ({"order_updates": "sometimes"}, "order_updates"),
        ({"new_articles": None}, "new_articles"),
        ({"newsletter": True}, "newsletter"),
    ],
)
def test_invalid_preferences_are_a_400_naming_the_field_and_change_nothing(
    as_alice: APIClient, alice: UserProfile, change: dict, field: str
) -> None:
    response = as_alice.patch(PREFERENCES, change, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    alice.refresh_from_db()
    assert alice.version == 1
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize(("method", "url"), [("get", ME), ("patch", ME), ("get", PREFERENCES), ("patch", PREFERENCES)])
def test_anonymous_requests_to_an_account_are_refused(anonymous: APIClient, method: str, url: str) -> None:
    response = getattr(anonymous, method)(url, {}, format="json")
    assert response.status_code in (401, 403)


def test_an_account_without_a_profile_gets_a_404_not_a_crash() -> None:
    client = APIClient()
    client.force_authenticate(UserFactory(username="legacy"))
    assert client.get(ME).status_code == 404
    assert client.patch(PREFERENCES, {"new_articles": True}, format="json").status_code == 404
