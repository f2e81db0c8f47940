"""The order saga's persistence: lock it, ask orders.statemachine what an input does, and write
that decision (saga row, order status, line stock, history steps) and its messages.

The decisions themselves (which transition, what to publish) are in orders.statemachine, where
the whole table is; this module is the only writer of OrderSaga.state, Order.status and
OrderLine.stock, always from one decision, so the order cannot disagree with its saga.

Every function here runs inside the caller's transaction (a service, or a handler's inbox
transaction) with the saga row locked, so inputs about one order are applied one at a time.
Every step is idempotent: a reply about a line the saga already moved past, or a reply after the
saga ended, is recorded (as stale if no step awaits it) and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders import statemachine
from orders.events import OrderPlaced
from orders.metrics import SAGA_DEADLINES_EXPIRED, SAGA_SECONDS
from orders.models import Order, OrderLine, OrderSaga, SagaStep
from orders.statemachine import Action, Decision, Input, LineCommand, State
from project.messaging import Event, current_envelope, database_for, publish, publish_many

logger = logging.getLogger(__name__)

# Orders' database (its own, or the default): the saga's transactions and their on-commit hooks.
DATABASE = database_for("orders")


def reservation_timeout() -> timedelta:
    return timedelta(seconds=settings.ORDERS_RESERVATION_TIMEOUT_SECONDS)


def start(order: Order, lines: list[OrderLine], placed: OrderPlaced) -> OrderSaga:
    """Open the saga of a freshly placed order (its lines just written, in position order) and
    ask inventory for every line at once; ``placed`` is published with the commands. The order
    must already follow the saga's first state (order_place writes it so: one INSERT)."""
    saga = OrderSaga.objects.create(order=order, deadline_at=timezone.now() + reservation_timeout())
    saga.locked_lines = lines
    decision = statemachine.decide(saga, Input.PLACED)
    _send(saga, decision.commands, events=[placed], order_version=order.version)
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
    _apply(saga, statemachine.decide(saga, Input.STOCK_RESERVED, line_id=line_id))


def on_stock_refused(saga: OrderSaga, line_id: UUID, reason: str) -> None:
    _apply(saga, statemachine.decide(saga, Input.STOCK_REFUSED, line_id=line_id, reason=reason))


def on_stock_released(saga: OrderSaga, line_id: UUID, quantity: int) -> None:
    _apply(saga, statemachine.decide(saga, Input.STOCK_RELEASED, line_id=line_id, quantity=quantity))


def on_stock_committed(saga: OrderSaga, line_id: UUID) -> None:
    _apply(saga, statemachine.decide(saga, Input.STOCK_COMMITTED, line_id=line_id))


def cancel(saga: OrderSaga, reason: str) -> None:
    """The customer (or staff) cancels: compensate, ending cancelled. Cancelling a saga already
    being cancelled changes nothing; one that confirmed or failed raises IllegalTransition."""
    _apply(saga, statemachine.decide(saga, Input.CANCEL, reason=reason))


def overdue(now: datetime, limit: int = 200) -> list[UUID]:
    """Orders whose saga is still reserving past its deadline."""
    return list(
        OrderSaga.objects.filter(state=State.RESERVING, deadline_at__lte=now)
        .order_by("deadline_at")
        .values_list("order_id", flat=True)[:limit]
    )


def expire(saga: OrderSaga, now: datetime) -> bool:
    """Compensate a saga whose deadline passed. Decided under the lock: a deadline that fires
    after completion (or after a cancellation) does nothing."""
    seconds = settings.ORDERS_RESERVATION_TIMEOUT_SECONDS
    reason = f"stock reservation timed out after {seconds:g} seconds"
    decision = statemachine.decide(saga, Input.DEADLINE, reason=reason, now=now)
    _apply(saga, decision)
    if decision.changed:
        transaction.on_commit(SAGA_DEADLINES_EXPIRED.inc, using=DATABASE)  # counted once the compensation commits
    return decision.changed


def compensate_by_operator(saga: OrderSaga, *, reason: str, note: str) -> None:
    """An operator gives up on a reserving order: release what it may hold, then fail it with ``reason``."""
    _apply(saga, statemachine.decide(saga, Input.COMPENSATE_NOW, reason=reason, note=note))


def retry_current_step(saga: OrderSaga, *, note: str) -> list[SagaStep]:
    """Send again, as new commands, what the saga still awaits an answer to, and record why.

    Reserving: ReserveStock for the lines still requested (and a fresh deadline, so the retry
    has time to be answered); compensating: ReleaseStock for the lines releasing; confirmed:
    CommitStock for the lines committing. Each awaited step counts one more attempt and
    remembers the newest command id. Inventory answers a repeated command as it answered the
    first, and the second answer to a step is recorded as stale: retrying is always safe.
    """
    decision = statemachine.decide(saga, Input.RETRY)
    action = decision.commands[0].action
    deadline_note = ""
    if decision.new_deadline:
        saga.deadline_at = timezone.now() + reservation_timeout()
        saga.save(update_fields=["deadline_at"])
        deadline_note = f", new deadline {saga.deadline_at:%H:%M:%S}"
    SagaStep.objects.create(
        order_id=saga.order_id,
        action=Action.OPERATOR,
        outcome=f"retry: {action} re-sent for {len(decision.commands)} line(s){deadline_note}",
        note=note,
    )
    retried = []
    for sent in decision.commands:
        envelope = publish(sent.command)
        step = (
            SagaStep.objects.filter(
                order_id=saga.order_id, line_id=sent.line_id, action=sent.action, replied_at__isnull=True
            )
            .order_by("-sent_at", "-id")
            .first()
        )
        if step is None:
            step = SagaStep.objects.create(
                order_id=saga.order_id,
                line_id=sent.line_id,
                action=sent.action,
                command_type=envelope.event_type,
                attempts=0,
            )
        step.attempts += 1
        step.command_id = envelope.event_id
        step.save(update_fields=["attempts", "command_id"])
        retried.append(step)
    return retried


# --- Writing a decision ------------------------------------------------------------------------


def _apply(saga: OrderSaga, decision: Decision) -> None:
    """Write ``decision``: the reply first, then (if a transition was taken) the lines, the saga,
    the order's status, the history, and the messages. A fixed number of statements per
    decision, whatever the line count."""
    if decision.reply is not None:
        _reply(saga, decision)
    if not decision.changed:
        return
    _move_lines(saga, decision)
    order_version = _move_saga(saga, decision)
    if decision.steps:
        SagaStep.objects.bulk_create(
            SagaStep(order_id=saga.order_id, action=step.action, outcome=step.outcome, note=step.note)
            for step in decision.steps
        )
    _send(saga, decision.commands, events=decision.events, order_version=order_version)


def _move_lines(saga: OrderSaga, decision: Decision) -> None:
    # One UPDATE per stock value the decision moves lines to (the saga row lock is held: no one
    # else writes them meanwhile); the lines in memory follow, for the rest of this step.
    by_stock: dict[str, list[OrderLine]] = {}
    for line in saga.lines:
        stock = decision.lines.get(line.pk)
        if stock is not None and stock != line.stock:
            line.stock = stock
            by_stock.setdefault(stock, []).append(line)
    for stock, lines in by_stock.items():
        OrderLine.objects.filter(pk__in=[line.pk for line in lines]).update(stock=stock)


def _move_saga(saga: OrderSaga, decision: Decision) -> int | None:
    """Save the saga's new state and the order's status that follows from it; the order's
    version if it changed (its events are published with it)."""
    fields = [
        name
        for name, value in (("state", decision.state), ("ending", decision.ending), ("reason", decision.reason))
        if getattr(saga, name) != value
    ]
    saga.state, saga.ending, saga.reason = decision.state, decision.ending, decision.reason
    if decision.ends:
        saga.ended_at = timezone.now()
        fields.append("ended_at")
        _observe_end(saga)
    if fields:
        saga.save(update_fields=fields)
    if statemachine.order_status(decision.state) == statemachine.order_status(decision.transition.source):
        return None  # the order's status is unchanged (reserving -> compensating): not read at all
    order = saga.order
    order.follow(saga.state, saga.reason)
    order.save(update_fields=["status", "failure_reason", "version", "updated_at"])
    return order.version


def _observe_end(saga: OrderSaga) -> None:
    # Counted once the ending commits: a rolled-back ending is not an ending.
    outcome, seconds = saga.state, (saga.ended_at - saga.started_at).total_seconds()
    transaction.on_commit(lambda: SAGA_SECONDS.labels(outcome).observe(seconds), using=DATABASE)


def _send(
    saga: OrderSaga,
    commands: tuple[LineCommand, ...],
    *,
    events: Sequence[Event] = (),
    order_version: int | None = None,
) -> None:
    """Publish one command per line and record a step awaiting each reply: a fixed number of
    statements whatever the line count. ``events`` (the order's, with its version) go first, in
    the same two INSERTs and the same send."""
    published = publish_many(
        [*events, *(sent.command for sent in commands)],
        aggregate_versions=[*(order_version for _ in events), *(None for _ in commands)],
    )
    if not commands:
        return
    envelopes = published[len(events) :]
    SagaStep.objects.bulk_create(
        SagaStep(
            order_id=saga.order_id,
            line_id=sent.line_id,
            action=sent.action,
            command_type=sent.command.event_type,
            command_id=envelope.event_id,
        )
        for sent, envelope in zip(commands, envelopes, strict=True)
    )


def _reply(saga: OrderSaga, decision: Decision) -> None:
    """Record what came back on the step that asked for it; a reply nobody awaits is stale."""
    reply = decision.reply
    envelope = current_envelope()
    reply_type = envelope.event_type if envelope else ""
    reply_id = envelope.event_id if envelope else None
    answer = {"reply_type": reply_type, "reply_id": reply_id, "replied_at": timezone.now(), "outcome": reply.outcome}
    awaiting = SagaStep.objects.filter(line_id=reply.line_id, action=reply.action, replied_at=None)
    # Usually the reply answers the step of the command that caused it, still awaiting: one
    # UPDATE finds and records it. Otherwise (an answer to a command a retry replaced) the newest
    # step awaiting a reply gets it; none awaiting: a stale reply.
    caused_by = envelope.causation_id if envelope is not None else None
    if caused_by is not None and awaiting.filter(command_id=caused_by).update(**answer):
        return
    newest = awaiting.order_by("-sent_at", "-id").values_list("pk", flat=True).first()
    if newest is not None:
        SagaStep.objects.filter(pk=newest).update(**answer)
        return
    # The line as it was before this decision: the stale reply changed nothing anyway.
    line_stock = next(line.stock for line in saga.lines if line.pk == reply.line_id)
    SagaStep.objects.create(
        order_id=saga.order_id,
        line_id=reply.line_id,
        action=Action.STALE_REPLY,
        reply_type=reply_type,
        reply_id=reply_id,
        replied_at=timezone.now(),
        outcome=reply.outcome,
        note=f"saga {saga.state}, line {line_stock}: acknowledged, nothing changed",
    )
    logger.info("Stale %s for order %s line %s ignored", reply_type, saga.order_id, reply.line_id)
