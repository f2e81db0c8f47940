from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from project.messaging.models import OutboxEvent
from users.models import UserProfile

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_users", stdout=out)
    return out.getvalue()


def test_seeding_creates_the_demo_users_with_profiles_and_announces_each_once(bus) -> None:
    first = seed()
    second = seed()
    assert first == second
    assert [line.split("  ")[0] for line in first.splitlines()] == ["admin/admin", "alice/alice"]
    assert all("  token " in line for line in first.splitlines())
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password("admin")
    alice = UserProfile.objects.get(user__username="alice")
    assert (alice.new_articles, alice.order_updates, alice.user.is_staff) == (True, True, False)
    registered = OutboxEvent.objects.filter(event_type="users.UserRegistered")
    assert sorted(e.payload["email"] for e in registered) == ["admin@example.com", "alice@example.com"]


def test_seeding_gives_a_profile_to_demo_users_created_before_profiles_existed(bus) -> None:
    get_user_model().objects.create_user("alice", "alice@example.com", "alice")
    seed()
    assert UserProfile.objects.get(user__username="alice").new_articles is True
