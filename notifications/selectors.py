from __future__ import annotations

from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from notifications.models import Notification, Recipient


def recipient_get(*, user_id: int) -> Recipient | None:
    return Recipient.objects.filter(user_id=user_id).first()


def recipient_ids_wanting_new_articles(*, article_id: UUID) -> QuerySet[Recipient, int]:
    """Users who opted in to new-article emails, can be written to, and were not told of this article."""
    told = Notification.objects.filter(kind=Notification.Kind.NEW_ARTICLE, reference=str(article_id))
    return (
        Recipient.objects.filter(new_articles=True, email_version__gt=0, preferences_version__gt=0)
        .exclude(user_id__in=told.values("user_id"))
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def notification_list_for(user: AbstractBaseUser) -> QuerySet[Notification]:
    """Staff with notifications.view_notification see every notification (they carry addresses);
    anyone else only their own."""
    notifications = Notification.objects.all()
    if user.is_staff and user.has_perm("notifications.view_notification"):
        return notifications
    return notifications.filter(user_id=user.pk)


def recipient_contact_facts() -> dict[int, dict[str, str | bool]]:
    """For the reconciliation: notifications' copy of each user's contact details (user id -> email
    and preferences, keyed as users.selectors.contact_facts)."""
    rows = Recipient.objects.values_list("user_id", "email", "order_updates", "new_articles", "email_format")
    return {
        user_id: {"email": email, "order_updates": orders, "new_articles": articles, "email_format": email_format}
        for user_id, email, orders, articles, email_format in rows.iterator(chunk_size=2000)
    }
