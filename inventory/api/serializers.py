from __future__ import annotations

from rest_framework import serializers

from inventory.models import StockItem

SKU_FIELD = {
    "regex": r"^[A-Z0-9][A-Z0-9-]{0,63}$",
    "help_text": "Capitals, digits and dashes, e.g. CRUNCHY-ARMCHAIR.",
    "error_messages": {"invalid": "Use capitals, digits and dashes, at most 64 characters."},
}


class StockItemSerializer(serializers.ModelSerializer):
    available = serializers.IntegerField(read_only=True)

    class Meta:
        model = StockItem
        fields = ["sku", "name", "on_hand", "reserved", "available", "updated_at"]


class StockItemCreateSerializer(serializers.Serializer):
    sku = serializers.RegexField(**SKU_FIELD)
    name = serializers.CharField(max_length=200)
    on_hand = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


class RestockSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=10_000_000)
    reason = serializers.CharField(max_length=200, default="restock")


class AdjustSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField(min_value=0, max_value=10_000_000)
    reason = serializers.CharField(max_length=200)
