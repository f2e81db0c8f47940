"""Admin of the users domain: read-mostly. Changes that others must hear about go through services."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from users.models import UserProfile


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user_id", "user", "display_name", "order_updates", "new_articles", "email_format", "version")
    list_filter = ("order_updates", "new_articles", "email_format")
    search_fields = ("=user__id", "user__username", "user__email", "display_name")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "display_name",
        "order_updates",
        "new_articles",
        "email_format",
        "version",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


User = get_user_model()


class EventSafeUserAdmin(UserAdmin):
    """Django's user admin, except that the email is read-only: changing it here would publish no
    UserEmailChanged, and the notifications' copy would keep the old address."""

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "email") if obj is not None else readonly


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, EventSafeUserAdmin)
