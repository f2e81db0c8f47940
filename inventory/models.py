from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class StockItem(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            # The database itself refuses overselling, whatever code runs.
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ({self.available} available)"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """What one order line holds. A RELEASED row with quantity 0 is a tombstone: the line was
    released before it was ever reserved, and a reserve arriving later is refused."""

    class Status(models.TextChoices):
        RESERVED = "reserved"
        RELEASED = "released"
        COMMITTED = "committed"

    order_id = models.UUIDField()
    line_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RESERVED, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_id", "line_id"], name="reservation_once_per_line"),
        ]
        indexes = [models.Index(fields=["order_id"]), models.Index(fields=["sku", "status"])]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku} for order {self.order_id} ({self.status})"

    @property
    def is_tombstone(self) -> bool:
        return self.status == self.Status.RELEASED and self.quantity == 0


class StockAdjustment(models.Model):
    """History of manual stock changes (restock and corrections), with who and why."""

    sku = models.CharField(max_length=64, db_index=True)
    delta = models.IntegerField()
    on_hand_after = models.PositiveIntegerField()
    reason = models.CharField(max_length=200)
    actor_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.sku} {self.delta:+d} ({self.reason})"
