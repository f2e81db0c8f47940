from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from orders import selectors, services
from orders.api.serializers import (
    OperatorActionSerializer,
    OrderCancelSerializer,
    OrderPlaceSerializer,
    OrderSerializer,
    OrderTimelineSerializer,
)
from orders.models import Order
from project.api.filters import UtcIsoDateTimeFilter
from project.api.throttling import OrderPlacementRateThrottle
from project.messaging import timeline_for

IDEMPOTENCY_HEADER = "Idempotency-Key"


class CanOperateSagas(BasePermission):
    """Staff with ``orders.change_order``: retrying a saga's step or compensating it by hand changes
    the order, an operator's power (the same permission as the admin's saga actions)."""

    message = "Running a saga by hand needs the orders.change_order permission."

    def has_permission(self, request: Request, view: object) -> bool:
        user = request.user
        return bool(user and user.is_staff and user.has_perm("orders.change_order"))


class OwnOrderOrChangePermission(BasePermission):
    """A customer cancels their own order; cancelling someone else's (which only staff see) needs
    ``orders.change_order``, as the admin's cancel action does."""

    message = "Cancelling another customer's order needs the orders.change_order permission."

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: object, obj: Order) -> bool:
        user = request.user
        return obj.customer_id == user.pk or user.has_perm("orders.change_order")


class OrderFilter(django_filters.FilterSet):
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "customer_id"]


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Place orders and follow them. Customers see their own orders only; staff see all."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self) -> QuerySet[Order]:
        return selectors.order_list_for(self.request.user)

    def get_throttles(self) -> list[BaseThrottle]:
        # Placing orders is rate-limited per customer (project.api.throttling); reading is not.
        if self.action == "create":
            return [OrderPlacementRateThrottle()]
        return super().get_throttles()

    @extend_schema(
        request=OrderPlaceSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any unique string (e.g. a UUID). Retrying with the same key returns the "
                "order the first request placed (200) instead of placing another.",
            )
        ],
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, description="Replay of an earlier request with this key."),
            400: OpenApiResponse(description="Invalid lines, or the key was used for a different order."),
        },
    )
    def create(self, request: Request) -> Response:
        incoming = OrderPlaceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        key = request.headers.get(IDEMPOTENCY_HEADER) or None
        if key is not None and not (1 <= len(key) <= 100):
            raise ValidationError({IDEMPOTENCY_HEADER: ["Must be 1 to 100 characters."]})
        placement = services.order_place(
            customer_id=request.user.pk,
            lines=[services.LineInput(**line) for line in incoming.validated_data["lines"]],
            idempotency_key=key,
        )
        body = OrderSerializer(selectors.order_get(placement.order.pk)).data
        return Response(body, status=status.HTTP_200_OK if placement.replayed else status.HTTP_201_CREATED)

    @extend_schema(
        request=OrderCancelSerializer,
        responses={202: OrderSerializer, 400: OpenApiResponse(description="The order can no longer be cancelled.")},
    )
    @action(detail=True, methods=["post"], permission_classes=[OwnOrderOrChangePermission])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel an order still reserving stock. What it holds is released, then it is cancelled.
        Staff cancelling another customer's order need orders.change_order."""
        order = self.get_object()  # 404 for another customer's order (a customer); 403 without the permission
        incoming = OrderCancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.order_cancel(order_id=order.pk, reason=incoming.validated_data["reason"])
        return Response(OrderSerializer(selectors.order_get(order.pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OrderTimelineSerializer})
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        """The saga's step history (each command sent to inventory, what came back, and when) and
        ``events``: the order's messaging timeline. Staff see every delivery and inbox record, and
        with messaging.view_deadletter every dead letter with its handler and error; a customer
        sees the events only."""
        order = self.get_object()
        the_saga = selectors.saga_timeline(order.pk)
        entries = selectors.order_messaging_timeline(order.pk)
        if not request.user.is_staff:
            entries = [e for e in entries if e.kind == "event"]
        entries = timeline_for(request.user, entries)
        the_saga.timeline_events = entries
        return Response(OrderTimelineSerializer(the_saga).data)

    @extend_schema(
        request=OperatorActionSerializer,
        responses={202: OrderSerializer, 400: OpenApiResponse(description="Nothing to retry, or no reason.")},
    )
    @action(detail=True, methods=["post"], url_path="retry-step", permission_classes=[CanOperateSagas])
    def retry_step(self, request: Request, pk: str | None = None) -> Response:
        """Staff with orders.change_order: send again the command(s) the saga awaits from inventory,
        with a recorded reason."""
        order = self.get_object()
        incoming = OperatorActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.order_saga_retry_step(
            order_id=order.pk, reason=incoming.validated_data["reason"], actor=str(request.user)
        )
        return Response(OrderSerializer(selectors.order_get(order.pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=OperatorActionSerializer,
        responses={202: OrderSerializer, 400: OpenApiResponse(description="Not reserving, or no reason.")},
    )
    @action(detail=True, methods=["post"], permission_classes=[CanOperateSagas])
    def compensate(self, request: Request, pk: str | None = None) -> Response:
        """Staff with orders.change_order: give up on a reserving order now: release its lines, then
        fail it with the reason."""
        order = self.get_object()
        incoming = OperatorActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.order_saga_compensate(
            order_id=order.pk, reason=incoming.validated_data["reason"], actor=str(request.user)
        )
        return Response(OrderSerializer(selectors.order_get(order.pk)).data, status=status.HTTP_202_ACCEPTED)
