from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors, services
from orders.api.serializers import OrderPlaceSerializer, OrderSerializer


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Place orders and follow them. Customers see their own orders; staff see all."""

    serializer_class = OrderSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.order_list_for(self.request.user)

    @extend_schema(request=OrderPlaceSerializer, responses={201: OrderSerializer})
    def create(self, request: Request) -> Response:
        incoming = OrderPlaceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = services.order_place(
            customer_id=request.user.pk,
            lines=[services.LineInput(**line) for line in incoming.validated_data["lines"]],
        )
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
