from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from users.models import UserProfile


def user_profile_list() -> QuerySet[UserProfile]:
    return UserProfile.objects.select_related("user")


def user_profile_get(*, user_id: int) -> UserProfile | None:
    """The user's profile with its auth user, or None if the account has none."""
    return user_profile_list().filter(user_id=user_id).first()


def contact_facts(*, settled_before: datetime) -> dict[int, dict[str, str | bool]]:
    """For the reconciliation: what every user last changed before the cut-off asked to be contacted
    by (user id -> email and preferences), the fields notifications keeps a copy of."""
    rows = (
        UserProfile.objects.filter(updated_at__lt=settled_before)
        .order_by("user_id")
        .values_list("user_id", "user__email", "order_updates", "new_articles", "email_format")
    )
    return {
        user_id: {"email": email, "order_updates": orders, "new_articles": articles, "email_format": email_format}
        for user_id, email, orders, articles, email_format in rows.iterator(chunk_size=2000)
    }
