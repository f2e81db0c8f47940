from __future__ import annotations

from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderSaga, SagaStep


def order_list_for(user: AbstractBaseUser) -> QuerySet[Order]:
    """Staff see every order; a customer only their own."""
    orders = Order.objects.select_related("saga").prefetch_related("lines")
    return orders if user.is_staff else orders.filter(customer_id=user.pk)


def order_get(order_id: UUID) -> Order:
    return Order.objects.select_related("saga").prefetch_related("lines").get(pk=order_id)


def saga_timeline(order_id: UUID) -> OrderSaga:
    return (
        OrderSaga.objects.select_related("order")
        .prefetch_related(Prefetch("order__saga_steps", queryset=SagaStep.objects.select_related("line")))
        .get(order_id=order_id)
    )
