"""The order saga: a process manager persisted in OrderSaga, OrderLine.stock and SagaStep.

    reserving --every line reserved--> confirmed  (then CommitStock per line)
        |
        +--a line refused / customer cancels / deadline passes--> compensating
                 --every line that may hold stock released--> failed | cancelled

One ReserveStock command per line goes out at once, so lines are reserved in parallel. Every
function here runs inside the caller's transaction (a service, or a handler's inbox transaction)
with the saga row locked, so replies about one order are applied one at a time. Every step is
idempotent: a reply about a line the saga already moved past, or a reply after the saga ended, is
recorded as stale and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory.commands import CommitStock, ReleaseStock, ReserveStock
from orders.events import OrderCancelled, OrderConfirmed, OrderFailed, OrderPlaced
from orders.metrics import SAGA_SECONDS
from orders.models import IllegalTransition, Order, OrderLine, OrderSaga, SagaStep
from project.messaging.context import current_envelope
from project.messaging.events import Event
from project.messaging.outbox import publish, publish_many

logger = logging.getLogger(__name__)

FAILED, CANCELLED = OrderSaga.State.FAILED, OrderSaga.State.CANCELLED
Stock = OrderLine.Stock


def reservation_timeout() -> timedelta:
    return timedelta(seconds=settings.ORDERS_RESERVATION_TIMEOUT_SECONDS)


def start(order: Order, lines: list[OrderLine], placed: OrderPlaced) -> OrderSaga:
    """Open the saga of a freshly placed order (its lines just written, in position order) and
    ask inventory for every line at once; ``placed`` is published with the commands."""
    saga = OrderSaga.objects.create(order=order, deadline_at=timezone.now() + reservation_timeout())
    saga.locked_lines = lines
    _send(
        saga,
        SagaStep.Action.RESERVE,
        [
            (line, ReserveStock(order_id=order.pk, line_id=line.pk, sku=line.sku, quantity=line.quantity))
            for line in lines
        ],
        events=[(placed, order.version)],
    )
    return saga


def lock(order_id: UUID) -> OrderSaga | None:
    # Lock the saga row: replies for one order, the deadline sweep and a cancellation racing
    # each other are applied one after the other, each seeing the previous one's result. (The
    # order itself is read only by the steps that change it, once per order; a plain get():
    # first() would add an ORDER BY, which costs more to build than this whole query.)
    try:
        return OrderSaga.objects.select_for_update().get(order_id=order_id)
    except OrderSaga.DoesNotExist:
        return None


def on_stock_reserved(saga: OrderSaga, line_id: UUID) -> None:
    line = _line(saga, line_id)
    if saga.state != OrderSaga.State.RESERVING or line.stock != Stock.REQUESTED:
        # Compensating: the release already sent for this line will give the units back.
        _reply(saga, line, SagaStep.Action.RESERVE, outcome=f"reserved while the line was {line.stock}")
        return
    _reply(saga, line, SagaStep.Action.RESERVE, outcome="reserved")
    _set_stock(line, Stock.RESERVED)
    if all(other.stock == Stock.RESERVED for other in _lines(saga)):
        _confirm(saga)


def on_stock_refused(saga: OrderSaga, line_id: UUID, reason: str) -> None:
    line = _line(saga, line_id)
    if line.stock == Stock.REQUESTED and saga.state == OrderSaga.State.RESERVING:
        _reply(saga, line, SagaStep.Action.RESERVE, outcome=f"refused: {reason}")
        _set_stock(line, Stock.REFUSED)
        compensate(saga, FAILED, reason)
        return
    # Already compensating (the line is being released anyway) or ended: nothing to do.
    _reply(saga, line, SagaStep.Action.RESERVE, outcome=f"refused while the line was {line.stock}: {reason}")


def on_stock_released(saga: OrderSaga, line_id: UUID, quantity: int) -> None:
    line = _line(saga, line_id)
    if line.stock != Stock.RELEASING:
        _reply(saga, line, SagaStep.Action.RELEASE, outcome=f"released {quantity}")
        return
    _reply(saga, line, SagaStep.Action.RELEASE, outcome=f"released {quantity}")
    _set_stock(line, Stock.RELEASED)
    if saga.state == OrderSaga.State.COMPENSATING and not any(other.stock == Stock.RELEASING for other in _lines(saga)):
        _finish_compensation(saga)


def on_stock_committed(saga: OrderSaga, line_id: UUID) -> None:
    line = _line(saga, line_id)
    if line.stock != Stock.COMMITTING:
        _reply(saga, line, SagaStep.Action.COMMIT, outcome="committed")
        return
    _reply(saga, line, SagaStep.Action.COMMIT, outcome="committed")
    _set_stock(line, Stock.COMMITTED)


def compensate(saga: OrderSaga, outcome: str, reason: str) -> None:
    """Undo the reservations: release, in reverse line order, every line that may hold stock.

    The order ends (failed or cancelled, with the reason) once inventory has answered every
    release; lines it refused hold nothing and need no release.
    """
    saga.start_compensating(outcome, reason)
    saga.save(update_fields=["state", "outcome", "reason"])
    SagaStep.objects.create(order_id=saga.order_id, action=SagaStep.Action.COMPENSATE, outcome=outcome, note=reason)
    to_release = [line for line in sorted(_lines(saga), key=lambda other: -other.position) if line.may_hold_stock]
    _set_stock_of_lines(to_release, Stock.RELEASING)
    _send(
        saga,
        SagaStep.Action.RELEASE,
        [(line, ReleaseStock(order_id=saga.order_id, line_id=line.pk, sku=line.sku)) for line in to_release],
    )
    if not to_release:
        _finish_compensation(saga)


def _confirm(saga: OrderSaga) -> None:
    order = saga.order
    order.confirm()
    order.save(update_fields=["status", "version", "updated_at"])
    saga.state, saga.ended_at = OrderSaga.State.CONFIRMED, timezone.now()
    saga.save(update_fields=["state", "ended_at"])
    _observe_end(saga)
    SagaStep.objects.create(order_id=saga.order_id, action=SagaStep.Action.CONFIRM, outcome="confirmed")
    lines = _lines(saga)
    _set_stock_of_lines(lines, Stock.COMMITTING)
    _send(
        saga,
        SagaStep.Action.COMMIT,
        [(line, CommitStock(order_id=order.pk, line_id=line.pk, sku=line.sku)) for line in lines],
        events=[(OrderConfirmed(order_id=order.pk, customer_id=order.customer_id, total=order.total), order.version)],
    )


def _finish_compensation(saga: OrderSaga) -> None:
    order = saga.order
    if saga.outcome == CANCELLED:
        order.cancel(saga.reason)
        event = OrderCancelled(order_id=order.pk, customer_id=order.customer_id, reason=saga.reason)
    else:
        order.fail(saga.reason)
        event = OrderFailed(order_id=order.pk, customer_id=order.customer_id, reason=saga.reason)
    order.save(update_fields=["status", "failure_reason", "version", "updated_at"])
    saga.state, saga.ended_at = saga.outcome, timezone.now()
    saga.save(update_fields=["state", "ended_at"])
    _observe_end(saga)
    SagaStep.objects.create(
        order_id=saga.order_id,
        action=SagaStep.Action.CANCEL if saga.outcome == CANCELLED else SagaStep.Action.FAIL,
        outcome=saga.outcome,
        note=saga.reason,
    )
    publish(event, aggregate_version=order.version)


def _observe_end(saga: OrderSaga) -> None:
    # Counted once the ending commits: a rolled-back ending is not an ending.
    outcome, seconds = saga.state, (saga.ended_at - saga.started_at).total_seconds()
    transaction.on_commit(lambda: SAGA_SECONDS.labels(outcome).observe(seconds))


def _lines(saga: OrderSaga) -> list[OrderLine]:
    """The order's lines in position order, read once per step and then read and changed in
    memory: the saga's row lock guards them too, as every change to them goes through here."""
    if saga.locked_lines is None:
        saga.locked_lines = list(OrderLine.objects.filter(order_id=saga.order_id).order_by("position"))
    return saga.locked_lines


def _line(saga: OrderSaga, line_id: UUID) -> OrderLine:
    for line in _lines(saga):
        if line.pk == line_id:
            return line
    raise OrderLine.DoesNotExist(f"Order {saga.order_id} has no line {line_id}.")


def _set_stock(line: OrderLine, stock: str) -> None:
    line.stock = stock
    line.save(update_fields=["stock"])


def _set_stock_of_lines(lines: list[OrderLine], stock: str) -> None:
    # One UPDATE for all the lines a decision moves (the saga row lock is held: no one else
    # writes them meanwhile).
    for line in lines:
        line.stock = stock
    if lines:
        OrderLine.objects.filter(pk__in=[line.pk for line in lines]).update(stock=stock)


def _send(
    saga: OrderSaga,
    action: str,
    commands: list[tuple[OrderLine, ReserveStock | ReleaseStock | CommitStock]],
    *,
    events: Sequence[tuple[Event, int]] = (),
) -> None:
    """Publish one command per line and record a step awaiting each reply: a fixed number of
    statements whatever the line count. ``events`` (with their order's version) go first, in the
    same two INSERTs and the same send."""
    published = publish_many(
        [*(event for event, _ in events), *(command for _, command in commands)],
        aggregate_versions=[*(version for _, version in events), *(None for _ in commands)],
    )
    envelopes = published[len(events) :]
    SagaStep.objects.bulk_create(
        SagaStep(
            order_id=saga.order_id,
            line=line,
            action=action,
            command_type=command.event_type,
            command_id=envelope.event_id,
        )
        for (line, command), envelope in zip(commands, envelopes, strict=True)
    )


def _reply(saga: OrderSaga, line: OrderLine, action: str, *, outcome: str) -> None:
    """Record what came back on the step that asked for it; a reply nobody awaits is stale."""
    envelope = current_envelope()
    reply_type = envelope.event_type if envelope else ""
    reply_id = envelope.event_id if envelope else None
    answer = {"reply_type": reply_type, "reply_id": reply_id, "replied_at": timezone.now(), "outcome": outcome}
    awaiting = SagaStep.objects.filter(line_id=line.pk, action=action, replied_at=None)
    # Usually the reply answers the step of the command that caused it, still awaiting: one
    # UPDATE finds and records it. Otherwise (an answer to a command a retry replaced) the newest
    # step awaiting a reply gets it; none awaiting: a stale reply.
    caused_by = envelope.causation_id if envelope is not None else None
    if caused_by is not None and awaiting.filter(command_id=caused_by).update(**answer):
        return
    newest = awaiting.order_by("-sent_at", "-id").values_list("pk", flat=True).first()
    if newest is not None:
        SagaStep.objects.filter(pk=newest).update(**answer)
    else:
        SagaStep.objects.create(
            order_id=saga.order_id,
            line=line,
            action=SagaStep.Action.STALE_REPLY,
            reply_type=reply_type,
            reply_id=reply_id,
            replied_at=timezone.now(),
            outcome=outcome,
            note=f"saga {saga.state}, line {line.stock}: acknowledged, nothing changed",
        )
        logger.info("Stale %s for order %s line %s ignored", reply_type, saga.order_id, line.pk)


def overdue(now: datetime, limit: int = 200) -> list[UUID]:
    """Orders whose saga is still reserving past its deadline."""
    return list(
        OrderSaga.objects.filter(state=OrderSaga.State.RESERVING, deadline_at__lte=now)
        .order_by("deadline_at")
        .values_list("order_id", flat=True)[:limit]
    )


def expire(saga: OrderSaga, now: datetime) -> bool:
    """Compensate a saga whose deadline passed. Re-checked under the lock: a deadline that
    fires after completion (or after a cancellation) does nothing."""
    if saga.state != OrderSaga.State.RESERVING or saga.deadline_at > now:
        return False
    seconds = settings.ORDERS_RESERVATION_TIMEOUT_SECONDS
    compensate(saga, FAILED, f"stock reservation timed out after {seconds:g} seconds")
    return True


# --- Operator actions -------------------------------------------------------------------------

# What the saga awaits from inventory in each open state: the lines in that stock state, the
# step action, and the command to send again.
_AWAITED = {
    OrderSaga.State.RESERVING: (Stock.REQUESTED, SagaStep.Action.RESERVE),
    OrderSaga.State.COMPENSATING: (Stock.RELEASING, SagaStep.Action.RELEASE),
    OrderSaga.State.CONFIRMED: (Stock.COMMITTING, SagaStep.Action.COMMIT),
}


def _command_for(action: str, order_id: UUID, line: OrderLine) -> ReserveStock | ReleaseStock | CommitStock:
    if action == SagaStep.Action.RESERVE:
        return ReserveStock(order_id=order_id, line_id=line.pk, sku=line.sku, quantity=line.quantity)
    if action == SagaStep.Action.RELEASE:
        return ReleaseStock(order_id=order_id, line_id=line.pk, sku=line.sku)
    return CommitStock(order_id=order_id, line_id=line.pk, sku=line.sku)


def retry_current_step(saga: OrderSaga, *, note: str) -> list[SagaStep]:
    """Send again, as new commands, what the saga still awaits an answer to, and record why.

    Reserving: ReserveStock for the lines still requested (and a fresh deadline, so the retry
    has time to be answered); compensating: ReleaseStock for the lines releasing; confirmed:
    CommitStock for the lines committing. Each awaited step counts one more attempt and
    remembers the newest command id. Inventory answers a repeated command as it answered the
    first, and the second answer to a step is recorded as stale: retrying is always safe.
    """
    awaited = _AWAITED.get(saga.state)
    if awaited is None:
        raise IllegalTransition(f"The saga of order {saga.order_id} has ended ({saga.state}): no step to retry.")
    stock, action = awaited
    lines = list(saga.order.lines.filter(stock=stock).order_by("-position" if stock == Stock.RELEASING else "position"))
    if not lines:
        raise IllegalTransition(
            f"The saga of order {saga.order_id} ({saga.state}) awaits no answer from inventory: no step to retry."
        )
    deadline_note = ""
    if saga.state == OrderSaga.State.RESERVING:
        saga.deadline_at = timezone.now() + reservation_timeout()
        saga.save(update_fields=["deadline_at"])
        deadline_note = f", new deadline {saga.deadline_at:%H:%M:%S}"
    SagaStep.objects.create(
        order_id=saga.order_id,
        action=SagaStep.Action.OPERATOR,
        outcome=f"retry: {action} re-sent for {len(lines)} line(s){deadline_note}",
        note=note,
    )
    retried = []
    for line in lines:
        envelope = publish(_command_for(action, saga.order_id, line))
        step = (
            SagaStep.objects.filter(order_id=saga.order_id, line=line, action=action, replied_at__isnull=True)
            .order_by("-sent_at", "-id")
            .first()
        )
        if step is None:
            step = SagaStep.objects.create(
                order_id=saga.order_id, line=line, action=action, command_type=envelope.event_type, attempts=0
            )
        step.attempts += 1
        step.command_id = envelope.event_id
        step.save(update_fields=["attempts", "command_id"])
        retried.append(step)
    return retried


def compensate_by_operator(saga: OrderSaga, *, reason: str, note: str) -> None:
    """An operator gives up on a reserving order: release what it may hold, then fail it with ``reason``."""
    if saga.state != OrderSaga.State.RESERVING:
        hint = " (retry the step to re-send its releases)" if saga.state == OrderSaga.State.COMPENSATING else ""
        raise IllegalTransition(
            f"The saga of order {saga.order_id} is {saga.state}: only a reserving saga can be compensated{hint}."
        )
    SagaStep.objects.create(
        order_id=saga.order_id, action=SagaStep.Action.OPERATOR, outcome="compensate now", note=note
    )
    compensate(saga, FAILED, reason)
