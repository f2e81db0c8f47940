from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from inventory import selectors, services
from inventory.api.serializers import (
    AdjustSerializer,
    RestockSerializer,
    StockItemCreateSerializer,
    StockItemSerializer,
)
from inventory.models import StockItem


class StaffWithStockPermissions(permissions.BasePermission):
    """Anyone signed in reads; writing is for staff with the model permission it needs:
    ``inventory.add_stockitem`` to create a product, ``inventory.change_stockitem`` to restock or
    adjust one (the same permission as the admin's restock action)."""

    required = {
        "create": "inventory.add_stockitem",
        "restock": "inventory.change_stockitem",
        "adjust": "inventory.change_stockitem",
    }
    message = (
        "Only staff change products: creating one needs the inventory.add_stockitem permission, "
        "restocking or adjusting one inventory.change_stockitem."
    )

    def has_permission(self, request: Request, view: object) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        user = request.user
        perm = self.required.get(getattr(view, "action", None) or "")
        return bool(user and user.is_staff and perm and user.has_perm(perm))


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Products with their stock levels. Anyone signed in reads; staff with inventory.add_stockitem
    create, with inventory.change_stockitem restock and adjust."""

    serializer_class = StockItemSerializer
    permission_classes = [permissions.IsAuthenticated, StaffWithStockPermissions]
    lookup_field = "sku"
    lookup_value_regex = "[A-Za-z0-9-]+"
    filterset_fields = ["sku"]

    def get_queryset(self) -> QuerySet[StockItem]:
        return selectors.stock_item_list()

    @extend_schema(request=StockItemCreateSerializer, responses={201: StockItemSerializer, 400: OpenApiResponse()})
    def create(self, request: Request) -> Response:
        incoming = StockItemCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = services.stock_item_create(**incoming.validated_data)
        return Response(StockItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RestockSerializer, responses={200: StockItemSerializer, 400: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def restock(self, request: Request, sku: str | None = None) -> Response:
        item = self.get_object()
        incoming = RestockSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = services.stock_restock(sku=item.sku, actor_id=request.user.pk, **incoming.validated_data)
        return Response(StockItemSerializer(item).data)

    @extend_schema(request=AdjustSerializer, responses={200: StockItemSerializer, 400: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def adjust(self, request: Request, sku: str | None = None) -> Response:
        """Correct on_hand after a count; it cannot go below what is reserved."""
        item = self.get_object()
        incoming = AdjustSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = services.stock_adjust(sku=item.sku, actor_id=request.user.pk, **incoming.validated_data)
        return Response(StockItemSerializer(item).data)
