from __future__ import annotations

import pytest
from django.test import Client

from tests.factories.users import UserFactory, UserProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(username="ada", is_staff=True, is_superuser=True))
    return client


def test_profiles_are_listed_and_shown_read_only(admin_client_: Client) -> None:
    profile = UserProfileFactory(display_name="Alice Liddell", new_articles=True)
    assert b"Alice Liddell" in admin_client_.get("/admin/users/userprofile/", {"new_articles__exact": "1"}).content
    page = admin_client_.get(f"/admin/users/userprofile/{profile.pk}/change/")
    assert page.status_code == 200 and b'name="display_name"' not in page.content
    assert admin_client_.get("/admin/users/userprofile/add/").status_code == 403


def test_the_user_admin_does_not_let_staff_change_an_email_behind_the_events_back(admin_client_: Client) -> None:
    user = UserFactory(username="bob")
    page = admin_client_.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200
    assert b'name="email"' not in page.content and b'name="username"' in page.content
