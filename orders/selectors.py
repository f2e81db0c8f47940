from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Max, Prefetch, Q, QuerySet

from inventory.commands import ReserveStock
from orders.events import OrderPlaced
from orders.models import KnownProduct, Order, OrderLine, OrderSaga, SagaStep
from project.messaging import TimelineEntry, aggregate_timeline, first_correlation_id, merge_timelines


def order_list_for(user: AbstractBaseUser) -> QuerySet[Order]:
    """Staff see every order; a customer only their own."""
    orders = Order.objects.select_related("saga").prefetch_related("lines")
    return orders if user.is_staff else orders.filter(customer_id=user.pk)


def order_get(order_id: UUID) -> Order:
    return Order.objects.select_related("saga").prefetch_related("lines").get(pk=order_id)


def saga_timeline(order_id: UUID) -> OrderSaga:
    return (
        OrderSaga.objects.select_related("order")
        .prefetch_related(Prefetch("order__saga_steps", queryset=SagaStep.objects.select_related("line")))
        .get(order_id=order_id)
    )


# --- The order's whole story: messaging rows plus saga steps ---------------------------------


def order_correlation_id(order_id: UUID) -> UUID | None:
    """The order's correlation id: the one its OrderPlaced event was published under."""
    return first_correlation_id(
        aggregate_type=OrderPlaced.aggregate_type, aggregate_id=str(order_id), event_type=OrderPlaced.event_type
    )


def order_messaging_timeline(order_id: UUID) -> list[TimelineEntry]:
    """Every event, delivery, inbox record and dead letter of the order, in time order.

    The order's story may span several correlation ids (placed by one request, cancelled by
    another, expired by the beat): all the chains that published an event about the order, or
    a command or reply about one of its lines' reservations, are merged.
    """
    lines = OrderLine.objects.filter(order_id=order_id).values_list("pk", flat=True)
    return aggregate_timeline(
        [
            (OrderPlaced.aggregate_type, str(order_id)),
            *((ReserveStock.aggregate_type, str(line_id)) for line_id in lines),
        ]
    )


def _step_entry(step: SagaStep) -> TimelineEntry:
    line = f" line {step.line.position} {step.line.sku}" if step.line else ""
    what = step.command_type or step.reply_type
    summary = f"saga {step.get_action_display().lower()}{line}" + (f": {what}" if what else "")
    return TimelineEntry(
        at=step.sent_at,
        kind="saga_step",
        summary=summary,
        event_id=step.command_id or step.reply_id,
        event_type=step.command_type,
        source=step.action,
        status=step.outcome or ("awaiting reply" if step.command_id and not step.replied_at else ""),
        detail=step.note,
        attempts=step.attempts,
        duration=step.replied_at - step.sent_at if step.replied_at else None,
        times={"sent_at": step.sent_at, "replied_at": step.replied_at},
        ref=str(step.pk),
    )


def saga_step_entries(steps: Iterable[SagaStep]) -> list[TimelineEntry]:
    return [_step_entry(step) for step in steps]


def order_timeline(order_id: UUID) -> list[TimelineEntry]:
    """The order's messaging timeline merged with its saga steps (sent -> replied, attempts, notes)."""
    steps = SagaStep.objects.filter(order_id=order_id).select_related("line")
    return merge_timelines(order_messaging_timeline(order_id), saga_step_entries(steps))


# --- Saga status for operators ----------------------------------------------------------------


@dataclass(frozen=True)
class SagaStatus:
    saga: OrderSaga
    last_activity: datetime
    awaiting: int  # lines waiting for an answer from inventory
    overdue: bool  # reserving past its deadline: the beat should have compensated it
    stuck: bool  # open, and nothing happened for longer than the threshold

    @property
    def flags(self) -> list[str]:
        return [name for name, on in (("OVERDUE", self.overdue), ("STUCK", self.stuck)) if on]


_AWAITING_STOCK = [OrderLine.Stock.REQUESTED, OrderLine.Stock.RELEASING, OrderLine.Stock.COMMITTING]


def saga_state_counts() -> dict[str, int]:
    return dict(OrderSaga.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))


def saga_statuses(*, state: str | None, stuck_after: timedelta, now: datetime, limit: int = 200) -> list[SagaStatus]:
    """Sagas in ``state`` (default: every saga still waiting for inventory), oldest first, flagged
    OVERDUE (reserving past its deadline) or STUCK (waiting, and no step for ``stuck_after``)."""
    sagas = OrderSaga.objects.select_related("order").annotate(
        last_sent=Max("order__saga_steps__sent_at"),
        last_reply=Max("order__saga_steps__replied_at"),
        awaiting=Count("order__lines", filter=Q(order__lines__stock__in=_AWAITING_STOCK), distinct=True),
    )
    sagas = sagas.filter(state=state) if state else sagas.filter(awaiting__gt=0)
    result = []
    for saga in sagas.order_by("started_at")[:limit]:
        last = max(t for t in (saga.last_sent, saga.last_reply, saga.started_at) if t is not None)
        waiting = saga.awaiting > 0
        result.append(
            SagaStatus(
                saga=saga,
                last_activity=last,
                awaiting=saga.awaiting,
                overdue=saga.state == OrderSaga.State.RESERVING and saga.deadline_at <= now,
                stuck=waiting and now - last >= stuck_after,
            )
        )
    return result


def saga_detail(order_id: UUID) -> OrderSaga:
    """One saga with its order, lines and steps (raises OrderSaga.DoesNotExist)."""
    return (
        OrderSaga.objects.select_related("order")
        .prefetch_related(
            "order__lines", Prefetch("order__saga_steps", queryset=SagaStep.objects.select_related("line"))
        )
        .get(order_id=order_id)
    )


# --- Facts for the cross-domain reconciliation (check_consistency) ----------------------------


@dataclass(frozen=True)
class ConfirmedLine:
    order_id: UUID
    line_id: UUID
    position: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderFacts:
    """What orders holds that other domains' copies must agree with: plain values, no models."""

    confirmed_lines: list[ConfirmedLine]  # the lines of every order confirmed before the cut-off
    ended_status: dict[UUID, str]  # every failed or cancelled order -> its status
    known_skus: set[str]  # the products orders lets customers order


def order_facts(*, settled_before: datetime) -> OrderFacts:
    """The reconciliation's view of orders, read from orders' own tables only."""
    confirmed = OrderLine.objects.filter(
        order__status=Order.Status.CONFIRMED, order__updated_at__lt=settled_before
    ).order_by("order_id", "position")
    return OrderFacts(
        confirmed_lines=[
            ConfirmedLine(order_id, line_id, position, sku, quantity)
            for order_id, line_id, position, sku, quantity in confirmed.values_list(
                "order_id", "id", "position", "sku", "quantity"
            ).iterator(chunk_size=2000)
        ],
        ended_status=dict(
            Order.objects.filter(status__in=[Order.Status.FAILED, Order.Status.CANCELLED]).values_list("pk", "status")
        ),
        known_skus=set(KnownProduct.objects.values_list("sku", flat=True)),
    )
