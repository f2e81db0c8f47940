from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from orders.models import Order, OrderLine


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.RegexField(r"^[A-Z0-9][A-Z0-9-]{0,63}$", help_text="Product SKU, e.g. CRUNCHY-ARMCHAIR.")
    quantity = serializers.IntegerField(min_value=1, max_value=1000)
    unit_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal("1000000")
    )


class OrderPlaceSerializer(serializers.Serializer):
    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=100)


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "position", "sku", "quantity", "unit_price"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "customer_id", "status", "failure_reason", "total", "lines", "created_at", "updated_at"]
