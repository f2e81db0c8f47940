"""Orders use cases. Entry services are durable transactions; the ones handlers call join the
handler's inbox transaction. The saga's steps live in orders/saga.py."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import saga
from orders.events import OrderPlaced, PlacedLine
from orders.models import KnownProduct, Order, OrderLine, OrderSaga, SagaStep
from orders.statemachine import State
from project.errors import DomainError, IllegalTransition
from project.messaging import correlation, current_correlation_id, database_for, first_event_origin

# The database this domain's rows and its outbox live in (its own, or the default): every
# service's transaction runs there, so that what it publishes commits with what it changes.
DATABASE = database_for("orders")


logger = logging.getLogger(__name__)


class OrderError(DomainError):
    """A request about an order breaks a business rule; the message says which."""

    code = "order-refused"


class UnknownProducts(OrderError):
    code = "unknown-products"
    field = "lines"

    def __init__(self, skus: Sequence[str]) -> None:
        super().__init__(f"Unknown sku: {', '.join(skus)}.")
        self.skus = list(skus)


class IdempotencyKeyReused(OrderError):
    """The Idempotency-Key was already used for a different order request."""

    code = "idempotency-key-reused"
    field = "Idempotency-Key"  # the request header


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Placement:
    order: Order
    replayed: bool  # True when an earlier request with the same Idempotency-Key placed it


def _fingerprint(lines: Sequence[LineInput]) -> str:
    canonical = json.dumps([[l.sku, l.quantity, str(Decimal(l.unit_price))] for l in lines])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(customer_id: int, idempotency_key: str, fingerprint: str) -> Placement:
    order = Order.objects.get(customer_id=customer_id, idempotency_key=idempotency_key)
    if order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {idempotency_key!r} was already used for a different order ({order.pk})."
        )
    return Placement(order, replayed=True)


def order_place(*, customer_id: int, lines: Sequence[LineInput], idempotency_key: str | None = None) -> Placement:
    """Place an order and start its saga: OrderPlaced and one ReserveStock per line commit with it.

    With an ``idempotency_key``, a retried request returns the order the first one placed.
    """
    if not lines:
        raise OrderError("An order needs at least one line.", field="lines")
    skus = [line.sku for line in lines]
    known = set(KnownProduct.objects.filter(sku__in=skus).values_list("sku", flat=True))
    if unknown := [sku for sku in skus if sku not in known]:
        raise UnknownProducts(unknown)
    fingerprint = _fingerprint(lines)
    if idempotency_key and Order.objects.filter(customer_id=customer_id, idempotency_key=idempotency_key).exists():
        return _replay(customer_id, idempotency_key, fingerprint)
    try:
        return Placement(_place(customer_id, lines, idempotency_key, fingerprint), replayed=False)
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent request with the same key won the race; answer with its order.
        return _replay(customer_id, idempotency_key, fingerprint)


@transaction.atomic(using=DATABASE, durable=True)
def _place(customer_id: int, lines: Sequence[LineInput], idempotency_key: str | None, fingerprint: str) -> Order:
    order = Order(
        customer_id=customer_id,
        total=sum((l.unit_price * l.quantity for l in lines), Decimal("0")),
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
    )
    order.follow(State.RESERVING, "")  # the saga's first state, from its first row: one INSERT, no UPDATE
    order.save(force_insert=True)
    created = OrderLine.objects.bulk_create(
        OrderLine(order=order, position=i, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price)
        for i, l in enumerate(lines, start=1)
    )
    placed = OrderPlaced(
        order_id=order.pk,
        customer_id=order.customer_id,
        lines=tuple(PlacedLine(line_id=l.pk, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price) for l in created),
        total=order.total,
    )
    # One correlation id for OrderPlaced and its ReserveStock commands, even outside a request.
    with correlation(current_correlation_id() or uuid.uuid4()):
        saga.start(order, created, placed)
    return order


@transaction.atomic(using=DATABASE, durable=True)
def order_cancel(*, order_id: UUID, reason: str = "cancelled by the customer") -> Order:
    """Cancel an order that is still reserving: the saga releases what it holds, then cancels it.

    Cancelling twice is harmless; a confirmed or failed order cannot be cancelled.
    """
    the_saga = saga.lock(order_id)
    if the_saga is None:
        raise Order.DoesNotExist(f"No order {order_id}.")
    try:
        saga.cancel(the_saga, reason)  # already being cancelled, or cancelled: same answer again
    except IllegalTransition as exc:
        raise OrderError(str(exc), field="status") from exc
    return Order.objects.get(pk=order_id)


def order_sagas_expire_overdue() -> int:
    """Compensate sagas past their deadline, each in its own transaction (called by beat)."""
    now = timezone.now()
    expired = 0
    for order_id in saga.overdue(now):
        with transaction.atomic(using=DATABASE, durable=True), _order_correlation(order_id):
            the_saga = saga.lock(order_id)
            if the_saga is not None and saga.expire(the_saga, now):
                expired += 1
    if expired:
        logger.warning("Compensated %d order sagas past their deadline", expired)
    return expired


@contextmanager
def _order_correlation(order_id: UUID) -> Iterator[None]:
    """Publish under the order's correlation id (its OrderPlaced's), so that what the beat or an
    operator does to an order joins the order's story instead of starting a new one (and, when
    traced, links to the trace the order was placed in)."""
    origin = first_event_origin(
        aggregate_type=OrderPlaced.aggregate_type, aggregate_id=str(order_id), event_type=OrderPlaced.event_type
    )
    if origin is None:
        yield
        return
    with correlation(origin.correlation_id, trace_context=origin.trace_context):
        yield


def _operator_note(reason: str, actor: str) -> str:
    reason = reason.strip()
    if not reason:
        raise OrderError("Say why: the reason is recorded in the saga's history.", field="reason")
    return f"{reason} (by {actor})" if actor else reason


def _locked_saga(order_id: UUID) -> OrderSaga:
    the_saga = saga.lock(order_id)
    if the_saga is None:
        raise Order.DoesNotExist(f"No order {order_id}.")
    return the_saga


@transaction.atomic(using=DATABASE, durable=True)
def order_saga_retry_step(*, order_id: UUID, reason: str, actor: str = "") -> list[SagaStep]:
    """Operator: send again the command(s) the saga awaits an answer to (after fixing what lost them).

    Reserving: ReserveStock for each line still requested; compensating: ReleaseStock for each
    line releasing; confirmed: CommitStock for each line committing. They are NEW commands
    (through the outbox, under the order's correlation id); inventory answers repeats as it
    answered the first, so a retry is safe even when the first command was only slow. The
    reason is recorded in the saga's history. Raises OrderError when there is nothing to retry.
    """
    note = _operator_note(reason, actor)
    with _order_correlation(order_id):
        try:
            return saga.retry_current_step(_locked_saga(order_id), note=note)
        except IllegalTransition as exc:
            raise OrderError(exc.message, field="status") from exc


@transaction.atomic(using=DATABASE, durable=True)
def order_saga_compensate(*, order_id: UUID, reason: str, actor: str = "") -> Order:
    """Operator: give up on a reserving order now. Its lines are released, then it fails with ``reason``.

    Only while reserving; the reason becomes the order's failure reason and is recorded in the
    saga's history. Raises OrderError otherwise.
    """
    note = _operator_note(reason, actor)
    with _order_correlation(order_id):
        try:
            saga.compensate_by_operator(_locked_saga(order_id), reason=reason.strip(), note=note)
        except IllegalTransition as exc:
            raise OrderError(exc.message, field="status") from exc
    return Order.objects.get(pk=order_id)


def _with_saga(order_id: UUID, apply) -> None:
    the_saga = saga.lock(order_id)
    if the_saga is None:
        logger.warning("Reply about unknown order %s ignored", order_id)
        return
    apply(the_saga)


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_stock_reserved(*, order_id: UUID, line_id: UUID) -> None:
    """Inventory reserved a line; the last one confirms the order."""
    _with_saga(order_id, lambda s: saga.on_stock_reserved(s, line_id))


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_stock_refused(*, order_id: UUID, line_id: UUID, reason: str) -> None:
    """Inventory refused a line: compensate, and fail the order with the reason."""
    _with_saga(order_id, lambda s: saga.on_stock_refused(s, line_id, reason))


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_stock_released(*, order_id: UUID, line_id: UUID, quantity: int) -> None:
    """Inventory released a line; the last one ends the compensation."""
    _with_saga(order_id, lambda s: saga.on_stock_released(s, line_id, quantity))


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def known_product_record(*, sku: str, name: str) -> None:
    """Remember that a product can be ordered. Safe to repeat."""
    KnownProduct.objects.update_or_create(sku=sku, defaults={"name": name})


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def order_stock_committed(*, order_id: UUID, line_id: UUID) -> None:
    _with_saga(order_id, lambda s: saga.on_stock_committed(s, line_id))
