"""Admin views of the messaging tables. Actions call services; nothing edits rows by hand."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from project.messaging import services
from project.messaging.models import DeadLetter, Delivery, InboxRecord, OutboxEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("handler", "queue", "status", "send_count", "last_sent_at", "processed_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "aggregate_type", "aggregate_id", "occurred_at", "correlation_id")
    list_filter = ("event_type", "producer")
    search_fields = ("=event_id", "=correlation_id", "aggregate_id")
    date_hierarchy = "occurred_at"
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "handler", "status", "send_count", "last_sent_at", "processed_at")
    list_filter = ("status", "queue", "handler")
    search_fields = ("=event__event_id",)
    list_select_related = ("event",)


@admin.register(InboxRecord)
class InboxRecordAdmin(ReadOnlyAdmin):
    list_display = ("handler", "event_type", "event_id", "processed_at")
    list_filter = ("handler",)
    search_fields = ("=event_id",)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "handler",
        "event_type",
        "error_type",
        "status",
        "attempts",
        "replay_count",
        "fingerprint",
        "first_failed_at",
        "last_failed_at",
    )
    list_filter = ("status", "handler", "event_type", "permanent")
    search_fields = ("=event_id", "=correlation_id", "fingerprint", "error_message")
    actions = ["replay"]

    @admin.action(description="Replay selected dead letters")
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        done = 0
        for letter in queryset:
            try:
                services.dead_letter_replay(dead_letter_id=letter.pk)
                done += 1
            except services.DeadLetterStateError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"Replay sent for {done} dead letter(s).", messages.SUCCESS)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Needed for actions to show; every field stays read-only.
        return request.user.is_staff

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]
