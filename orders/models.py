from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models


class IllegalTransition(Exception):
    """The order is not in a state that allows this move."""


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RESERVING = "reserving"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = frozenset({Status.CONFIRMED, Status.FAILED, Status.CANCELLED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.BigIntegerField(db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def _move(self, allowed_from: set[str], to: str) -> None:
        if self.status not in allowed_from:
            raise IllegalTransition(f"Order {self.id} cannot go from {self.status} to {to}.")
        self.status = to
        self.version += 1

    def start_reserving(self) -> None:
        self._move({self.Status.PENDING}, self.Status.RESERVING)

    def confirm(self) -> None:
        self._move({self.Status.RESERVING}, self.Status.CONFIRMED)

    def fail(self, reason: str) -> None:
        self._move({self.Status.PENDING, self.Status.RESERVING}, self.Status.FAILED)
        self.failure_reason = reason


class OrderLine(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["order", "position"], name="order_line_position")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity
