"""Create the demo operator and customer with their profiles (idempotent) and print how to log in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from users.events import EmailPreferences
from users.services import user_profile_ensure

DEMO_USERS = [
    # username, password, staff, display name, email preferences
    ("admin", "admin", True, "Ada Admin", EmailPreferences()),
    ("alice", "alice", False, "Alice", EmailPreferences(order_updates=True, new_articles=True)),
]


class Command(BaseCommand):
    help = (
        "Create the demo users admin/admin (staff, superuser) and alice/alice (customer, who wants "
        "new-article emails), each with a profile announced by UserRegistered."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for username, password, staff, display_name, preferences in DEMO_USERS:
            # Demo passwords are deliberately weak, so the account is made here rather than through
            # user_register (which enforces the password validators); the profile and its event
            # come from the users service.
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": staff, "is_superuser": staff, "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(password)
                user.save()
            user_profile_ensure(user_id=user.pk, display_name=display_name, preferences=preferences)
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"{username}/{password}  token {token.key}")
