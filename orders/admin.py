"""Orders admin: read-only views of orders, lines and the saga history. Actions call services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from orders import services
from orders.models import Order, OrderLine, SagaStep


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("position", "sku", "quantity", "unit_price", "stock")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SagaStepInline(admin.TabularInline):
    model = SagaStep
    extra = 0
    can_delete = False
    fields = ("sent_at", "action", "line", "command_type", "attempts", "reply_type", "replied_at", "outcome", "note")
    readonly_fields = fields
    verbose_name_plural = "saga step history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SagaStep]:
        return super().get_queryset(request).select_related("line")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "status", "saga_state", "total", "failure_reason", "created_at")
    list_filter = ("status", "saga__state", "created_at")
    search_fields = ("=id", "=customer_id")
    date_hierarchy = "created_at"
    list_select_related = ("saga",)
    fields = (
        "id",
        "customer_id",
        "status",
        "failure_reason",
        "total",
        "version",
        "saga_state",
        "saga_deadline",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [OrderLineInline, SagaStepInline]
    actions = ["cancel_orders"]

    @admin.display(description="saga")
    def saga_state(self, order: Order) -> str:
        return order.saga.state if hasattr(order, "saga") else "-"

    @admin.display(description="saga deadline")
    def saga_deadline(self, order: Order) -> object:
        return order.saga.deadline_at if hasattr(order, "saga") else None

    @admin.action(description="Cancel selected orders (releases their stock)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        cancelled = 0
        for order in queryset:
            try:
                services.order_cancel(order_id=order.pk, reason=f"cancelled by staff ({request.user})")
                cancelled += 1
            except services.OrderError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"Cancellation started for {cancelled} order(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
