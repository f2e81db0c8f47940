"""Factories of the inventory domain."""

from __future__ import annotations

import uuid

import factory

from inventory.models import Reservation, StockAdjustment, StockItem
from project.messaging import database_for


class StockItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockItem
        database = database_for("inventory")
        django_get_or_create = ("sku",)

    sku = factory.Iterator(["CRUNCHY-ARMCHAIR", "WOBBLY-TABLE", "SHINY-LAMP", "RARE-VASE", "SQUEAKY-CHAIR"])
    name = factory.LazyAttribute(lambda o: o.sku.replace("-", " ").title())
    on_hand = 10
    reserved = 0


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation
        database = database_for("inventory")

    order_id = factory.LazyFunction(uuid.uuid4)
    line_id = factory.LazyFunction(uuid.uuid4)
    sku = "CRUNCHY-ARMCHAIR"
    quantity = 1
    status = Reservation.Status.RESERVED


class StockAdjustmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockAdjustment
        database = database_for("inventory")

    sku = "CRUNCHY-ARMCHAIR"
    delta = 5
    on_hand_after = 15
    reason = "found a box in the back"
