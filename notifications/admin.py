"""Admin of the notifications domain: read-only. Both tables are written only by event handlers."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from notifications.models import Notification, Recipient


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "status", "user_id", "to_email", "subject", "sent_at")
    list_filter = ("kind", "status", "channel")
    search_fields = ("=user_id", "=event_id", "to_email", "reference", "subject")
    date_hierarchy = "created_at"


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "display_name", "email", "order_updates", "new_articles", "email_format", "version")
    list_filter = ("order_updates", "new_articles", "email_format")
    search_fields = ("=user_id", "email", "display_name")
