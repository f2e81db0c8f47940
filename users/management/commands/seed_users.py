"""Create the demo operator and customer (idempotent) and print how to log in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

DEMO_USERS = [
    # username, password, staff
    ("admin", "admin", True),
    ("alice", "alice", False),
]


class Command(BaseCommand):
    help = "Create the demo users admin/admin (staff, superuser) and alice/alice (customer)."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for username, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": staff, "is_superuser": staff, "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(password)
                user.save()
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"{username}/{password}  token {token.key}")
