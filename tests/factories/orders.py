"""Factories of the orders domain. They write rows directly (no events, no saga steps sent):
for model, selector and API tests. Tests about the saga drive orders.services instead."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from orders.models import KnownProduct, Order, OrderLine, OrderSaga, SagaStep
from project.messaging import database_for


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"customer-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("a-customer-password")


class StaffFactory(CustomerFactory):
    username = factory.Sequence(lambda n: f"staff-{n}")
    is_staff = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order
        database = database_for("orders")

    customer_id = factory.LazyFunction(lambda: CustomerFactory().pk)
    status = Order.Status.RESERVING
    total = Decimal("99.00")


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine
        database = database_for("orders")

    order = factory.SubFactory(OrderFactory)
    position = factory.Sequence(lambda n: n + 1)
    sku = "CRUNCHY-ARMCHAIR"
    quantity = 1
    unit_price = Decimal("99.00")


class OrderSagaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderSaga
        database = database_for("orders")

    order = factory.SubFactory(OrderFactory)
    deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=2))


class SagaStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SagaStep
        database = database_for("orders")

    order = factory.SubFactory(OrderFactory)
    action = SagaStep.Action.RESERVE
    command_type = "inventory.ReserveStock"


class KnownProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnownProduct
        database = database_for("orders")
        django_get_or_create = ("sku",)

    sku = "CRUNCHY-ARMCHAIR"
    name = factory.LazyAttribute(lambda o: o.sku.replace("-", " ").title())
