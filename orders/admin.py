from django.contrib import admin

from orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ("position", "sku", "quantity", "unit_price")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "status", "total", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "=customer_id")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "customer_id", "status", "failure_reason", "total", "version", "created_at")
    inlines = [OrderLineInline]

    def has_add_permission(self, request) -> bool:
        return False
