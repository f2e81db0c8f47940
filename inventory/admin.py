from django.contrib import admin

from inventory.models import Reservation, StockItem


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "on_hand", "reserved", "available")
    search_fields = ("sku", "name")
    readonly_fields = ("reserved",)


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("order_id", "line_id", "sku", "quantity", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("=order_id", "sku")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
