from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from orders.models import Order, OrderLine, OrderSaga, SagaStep
from project.messaging import TimelineEntrySerializer

MAX_LINES = 50
MAX_QUANTITY = 1000


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.RegexField(
        r"^[A-Z0-9][A-Z0-9-]{0,63}$",
        help_text="Product SKU: capitals, digits and dashes, e.g. CRUNCHY-ARMCHAIR.",
        error_messages={"invalid": "Use capitals, digits and dashes, at most 64 characters."},
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal("1000000")
    )


class OrderPlaceSerializer(serializers.Serializer):
    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        skus = [line["sku"] for line in lines]
        if len(set(skus)) != len(skus):
            raise serializers.ValidationError("Each sku may appear on one line only; add up the quantities.")
        return lines


class OrderCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="cancelled by the customer")


class OperatorActionSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why: recorded in the saga's history (and, for compensate, as the failure reason)."
    )


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "position", "sku", "quantity", "unit_price", "stock"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    saga_state = serializers.CharField(source="saga.state", read_only=True, default=None)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "status",
            "failure_reason",
            "total",
            "lines",
            "saga_state",
            "created_at",
            "updated_at",
        ]


class SagaStepSerializer(serializers.ModelSerializer):
    line_id = serializers.UUIDField(source="line.pk", read_only=True, default=None)
    sku = serializers.CharField(source="line.sku", read_only=True, default=None)

    class Meta:
        model = SagaStep
        fields = [
            "action",
            "line_id",
            "sku",
            "command_type",
            "command_id",
            "sent_at",
            "attempts",
            "reply_type",
            "reply_id",
            "replied_at",
            "outcome",
            "note",
        ]


class SagaTimelineSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField(source="order.pk")
    order_status = serializers.CharField(source="order.status")
    # What a compensation ends in (failed or cancelled), under the name the API always gave it.
    outcome = serializers.CharField(source="ending", read_only=True)
    steps = SagaStepSerializer(source="order.saga_steps", many=True)

    class Meta:
        model = OrderSaga
        fields = [
            "order_id",
            "order_status",
            "state",
            "outcome",
            "reason",
            "deadline_at",
            "started_at",
            "ended_at",
            "steps",
        ]


class OrderTimelineSerializer(SagaTimelineSerializer):
    """The saga and its steps, plus ``events``: the order's messaging timeline (every event,
    delivery, inbox record and dead letter, oldest first; customers see the events only)."""

    events = TimelineEntrySerializer(many=True, source="timeline_events")

    class Meta(SagaTimelineSerializer.Meta):
        fields = [*SagaTimelineSerializer.Meta.fields, "events"]
