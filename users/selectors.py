from __future__ import annotations

from django.db.models import QuerySet

from users.models import UserProfile


def user_profile_list() -> QuerySet[UserProfile]:
    return UserProfile.objects.select_related("user")


def user_profile_get(*, user_id: int) -> UserProfile | None:
    """The user's profile with its auth user, or None if the account has none."""
    return user_profile_list().filter(user_id=user_id).first()
