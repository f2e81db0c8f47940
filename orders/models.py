"""Orders' tables. The saga's states, transitions and the order status they imply are in
orders.statemachine (one table); orders.saga is the only code that moves them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from orders.statemachine import ENDED, Action, Ending, LineStock, OrderStatus, State, order_status


class KnownProduct(models.Model):
    """Orders' own copy of what can be ordered, built from inventory's ProductAdded events: the
    API refuses an unknown sku at once without asking inventory anything."""

    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    added_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sku


class Order(models.Model):
    # Derived from the saga's state (statemachine.ORDER_STATUS), written only through follow().
    Status = OrderStatus

    TERMINAL = frozenset(order_status(state) for state in ENDED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.BigIntegerField(db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    version = models.PositiveIntegerField(default=1)
    # A client's Idempotency-Key: a retried POST with the same key returns this order.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_per_customer",
            )
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    def follow(self, saga_state: str, reason: str) -> bool:
        """Take the status the saga's state implies (and, once failed or cancelled, its reason).

        Called by orders.saga with every state a decision reaches, and by nothing else: the
        order's status cannot disagree with its saga. A new status is a new version of the order.
        Returns whether anything changed (the order then needs saving).
        """
        status = order_status(saga_state)
        if status == self.status:
            return False
        self.status = status
        self.version += 1
        if status in (OrderStatus.FAILED, OrderStatus.CANCELLED):
            self.failure_reason = reason
        return True


class OrderLine(models.Model):
    # Where the saga stands with this line's stock (statemachine.LineStock).
    Stock = LineStock

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    stock = models.CharField(max_length=20, choices=Stock.choices, default=Stock.REQUESTED)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["order", "position"], name="order_line_position")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class OrderSaga(models.Model):
    """The process manager of one order: reserve every line, then confirm or compensate.

    Its states and transitions: orders.statemachine.TRANSITIONS; it is moved by orders.saga only.
    """

    # The order's lines as the saga's current step read them under this row's lock (not a field).
    locked_lines: list[OrderLine] | None = None

    State = State

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="saga")
    state = models.CharField(max_length=20, choices=State.choices, default=State.RESERVING, db_index=True)
    # What a compensation ends in (failed or cancelled) and why; blank unless one was started.
    ending = models.CharField(max_length=20, choices=Ending.choices, blank=True)
    reason = models.TextField(blank=True)
    deadline_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Saga of order {self.order_id} ({self.state})"

    @property
    def deadline_passed(self) -> bool:
        return timezone.now() >= self.deadline_at

    @property
    def lines(self) -> Sequence[OrderLine]:
        """The order's lines in position order, read once per step (statemachine.SagaFacts): the
        saga's row lock guards them too, as every change to them goes through orders.saga."""
        if self.locked_lines is None:
            self.locked_lines = list(OrderLine.objects.filter(order_id=self.order_id).order_by("position"))
        return self.locked_lines


class SagaStep(models.Model):
    """One entry of a saga's history: a command sent and what came back, or a decision taken."""

    Action = Action

    # Hangs off the order (the saga shares its key) so the admin can show it inline on the order.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="saga_steps")
    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, null=True, blank=True, related_name="steps")
    action = models.CharField(max_length=20, choices=Action.choices)
    command_type = models.CharField(max_length=120, blank=True)
    command_id = models.UUIDField(null=True, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=1)
    reply_type = models.CharField(max_length=120, blank=True)
    reply_id = models.UUIDField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.command_type} -> {self.reply_type or '...'}"
