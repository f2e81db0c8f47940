"""GET /api/notifications/: one's own notifications; staff with the view permission see everyone's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories.notifications import NotificationFactory
from tests.factories.users import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/notifications/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def log() -> dict:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    NotificationFactory(user_id=alice.pk, kind="order_confirmed", sent=True)
    NotificationFactory(user_id=alice.pk, kind="new_article", sent=True)
    NotificationFactory(user_id=alice.pk, kind="order_failed", status="suppressed")
    NotificationFactory(user_id=bob.pk, kind="order_confirmed", sent=True)
    return {"alice": alice, "bob": bob}


def test_a_user_lists_only_their_own_notifications(log: dict) -> None:
    body = client_for(log["bob"]).get(URL).json()
    assert body["count"] == 1
    [row] = body["results"]
    assert (row["user_id"], row["kind"], row["status"], row["channel"]) == (
        log["bob"].pk,
        "order_confirmed",
        "sent",
        "email",
    )
    assert set(row) >= {"event_id", "reason", "subject", "created_at", "sent_at"}


def test_a_user_cannot_see_someone_elses_notifications_by_filtering_for_them(log: dict) -> None:
    body = client_for(log["bob"]).get(URL, {"user_id": log["alice"].pk}).json()
    assert body["count"] == 0


def test_staff_list_everyones_and_filter_by_kind_and_status(log: dict) -> None:
    ada = UserFactory(username="ada", is_staff=True)
    ada.user_permissions.add(Permission.objects.get(codename="view_notification"))
    staff = client_for(ada)
    assert staff.get(URL).json()["count"] == 4
    sent_confirmations = staff.get(URL, {"kind": "order_confirmed", "status": "sent"}).json()
    assert sorted(r["user_id"] for r in sent_confirmations["results"]) == sorted([log["alice"].pk, log["bob"].pk])
    assert staff.get(URL, {"status": "suppressed"}).json()["count"] == 1


def test_the_list_is_paginated(log: dict) -> None:
    body = client_for(log["alice"]).get(URL, {"page_size": 2}).json()
    assert (body["count"], len(body["results"])) == (3, 2)
    assert body["next"] is not None


def test_an_unknown_filter_value_is_a_400_naming_the_filter(log: dict) -> None:
    response = client_for(log["alice"]).get(URL, {"status": "delivered-by-pigeon"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_anonymous_requests_are_refused() -> None:
    assert APIClient().get(URL).status_code in (401, 403)
