from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from orders.models import Order


def order_list_for(user: AbstractBaseUser) -> QuerySet[Order]:
    """Staff see every order; a customer only their own."""
    orders = Order.objects.prefetch_related("lines")
    return orders if user.is_staff else orders.filter(customer_id=user.pk)
