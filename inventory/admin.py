"""Inventory admin. Stock changes go through services (restock action); nothing edits levels by hand.
Restocking changes products: it needs ``inventory.change_stockitem`` (not offered without it)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from inventory import services
from inventory.models import Reservation, StockAdjustment, StockItem
from project.admin import DomainErrorAdmin


class RestockForm(ActionForm):
    quantity = forms.IntegerField(min_value=1, required=False, help_text="Units to add (restock action).")


@admin.register(StockItem)
class StockItemAdmin(DomainErrorAdmin):
    list_display = ("sku", "name", "on_hand", "reserved", "available", "updated_at")
    search_fields = ("sku", "name")
    readonly_fields = ("on_hand", "reserved", "created_at", "updated_at")
    action_form = RestockForm
    actions = ["restock"]

    @admin.action(description="Restock selected products by the quantity given", permissions=["change"])
    def restock(self, request: HttpRequest, queryset: QuerySet[StockItem]) -> None:
        try:
            quantity = forms.IntegerField(min_value=1).clean(request.POST.get("quantity"))
        except forms.ValidationError:
            self.message_user(request, "Give a positive quantity to restock.", messages.ERROR)
            return
        for item in queryset:
            services.stock_restock(sku=item.sku, quantity=quantity, actor_id=request.user.pk, reason="restock (admin)")
        self.message_user(request, f"Added {quantity} to {queryset.count()} product(s).", messages.SUCCESS)

    def get_readonly_fields(self, request: HttpRequest, obj: StockItem | None = None) -> tuple[str, ...]:
        # New products are created with their initial stock; afterwards levels change only by services.
        return ("reserved", "created_at", "updated_at") if obj is None else self.readonly_fields

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if object_id is None and request.method == "POST":
            # Adding runs stock_item_create, a durable transaction (the product and its
            # ProductAdded commit together): it cannot be nested in the atomic block Django's
            # changeform_view opens, so the service is the transaction boundary here.
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: StockItem, form: forms.Form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # name only: levels are read-only
        else:
            created = services.stock_item_create(sku=obj.sku, name=obj.name, on_hand=obj.on_hand)
            obj.pk = created.pk


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("order_id", "line_id", "sku", "quantity", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("=order_id", "sku")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StockAdjustment)
class StockAdjustmentAdmin(admin.ModelAdmin):
    list_display = ("sku", "delta", "on_hand_after", "reason", "actor_id", "created_at")
    search_fields = ("sku", "reason")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
