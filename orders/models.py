from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from project.errors import IllegalTransition


class KnownProduct(models.Model):
    """Orders' own copy of what can be ordered, built from inventory's ProductAdded events: the
    API refuses an unknown sku at once without asking inventory anything."""

    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    added_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sku


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

    def cancel(self, reason: str) -> None:
        self._move({self.Status.PENDING, self.Status.RESERVING}, self.Status.CANCELLED)
        self.failure_reason = reason


class OrderLine(models.Model):
    class Stock(models.TextChoices):
        """Where the saga stands with this line's stock."""

        REQUESTED = "requested", "reservation requested"
        RESERVED = "reserved"
        REFUSED = "refused", "reservation refused"
        RELEASING = "releasing", "release requested"
        RELEASED = "released"
        COMMITTING = "committing", "commit requested"
        COMMITTED = "committed"

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

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def may_hold_stock(self) -> bool:
        """Reserved, or asked for and not yet answered: compensation must release it."""
        return self.stock in (self.Stock.REQUESTED, self.Stock.RESERVED)


class OrderSaga(models.Model):
    """The process manager of one order: reserve every line, then confirm or compensate."""

    # The order's lines as the saga's current step read them under this row's lock (orders.saga._lines; not a field).
    locked_lines: list[OrderLine] | None = None

    class State(models.TextChoices):
        RESERVING = "reserving"
        COMPENSATING = "compensating"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ENDED = frozenset({State.CONFIRMED, State.FAILED, State.CANCELLED})

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="saga")
    state = models.CharField(max_length=20, choices=State.choices, default=State.RESERVING, db_index=True)
    # What compensation will end in (failed or cancelled) and why.
    outcome = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    deadline_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Saga of order {self.order_id} ({self.state})"

    @property
    def has_ended(self) -> bool:
        return self.state in self.ENDED

    def start_compensating(self, outcome: str, reason: str) -> None:
        if self.state != self.State.RESERVING:
            raise IllegalTransition(f"Saga of order {self.order_id} cannot compensate from {self.state}.")
        self.state, self.outcome, self.reason = self.State.COMPENSATING, outcome, reason


class SagaStep(models.Model):
    """One entry of a saga's history: a command sent and what came back, or a decision taken."""

    class Action(models.TextChoices):
        RESERVE = "reserve"
        RELEASE = "release"
        COMMIT = "commit"
        CONFIRM = "confirm"
        COMPENSATE = "compensate"
        FAIL = "fail"
        CANCEL = "cancel"
        STALE_REPLY = "stale_reply", "stale reply ignored"
        OPERATOR = "operator", "operator action"

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
