"""Where order sagas stand: one in detail, or the open ones flagged OVERDUE or STUCK."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from orders import selectors
from orders.models import OrderSaga


class Command(BaseCommand):
    help = (
        "Order sagas. With an order id: that saga in detail (lines, every step with its times, attempts and "
        "outcome). Without: how many sagas are in each state, and the sagas still waiting for inventory "
        "(or those in --state), flagged OVERDUE (reserving past its deadline: is beat running?) or STUCK "
        "(nothing happened for --stuck-minutes: is the inventory worker running? any dead letter?)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("order_id", nargs="?", help="Show this order's saga in detail.")
        parser.add_argument("--state", choices=OrderSaga.State.values, help="List the sagas in this state.")
        parser.add_argument(
            "--stuck-minutes",
            type=float,
            default=10.0,
            help="A saga waiting for inventory with no step for this long is STUCK (default 10).",
        )

    def handle(self, *args: Any, order_id: str | None, state: str | None, stuck_minutes: float, **opts: Any) -> None:
        if stuck_minutes <= 0:
            raise CommandError("--stuck-minutes must be positive.")
        if order_id is not None:
            return self._detail(order_id)
        now = timezone.now()
        counts = selectors.saga_state_counts()
        self.stdout.write(
            "sagas: " + (", ".join(f"{s}: {counts.get(s, 0)}" for s in OrderSaga.State.values) if counts else "none")
        )
        statuses = selectors.saga_statuses(state=state, stuck_after=timedelta(minutes=stuck_minutes), now=now)
        heading = f"in state {state}" if state else "waiting for inventory"
        self.stdout.write(f"{len(statuses)} saga(s) {heading}:")
        for status in statuses:
            saga = status.saga
            flags = " ".join(status.flags)
            self.stdout.write(
                f"  {saga.order_id}  {saga.state:<12} awaiting {status.awaiting} line(s)  "
                f"last step {_ago(now - status.last_activity)} ago  deadline {saga.deadline_at:%Y-%m-%d %H:%M:%S}"
                + (f"  {flags}" if flags else "")
            )
        flagged = [s for s in statuses if s.flags]
        if flagged:
            self.stdout.write(
                f"{len(flagged)} flagged: see `saga_status <order_id>`, `dead_letters list`, and the order's timeline."
            )

    def _detail(self, order_id: str) -> None:
        try:
            pk = uuid.UUID(order_id)
        except ValueError:
            raise CommandError(f"{order_id!r} is not an order id (a UUID).") from None
        try:
            saga = selectors.saga_detail(pk)
        except OrderSaga.DoesNotExist:
            raise CommandError(f"No order {pk}.") from None
        order, now = saga.order, timezone.now()
        self.stdout.write(f"order {order.pk}  customer {order.customer_id}  status {order.status}  total {order.total}")
        if order.failure_reason:
            self.stdout.write(f"  reason: {order.failure_reason}")
        overdue = saga.state == OrderSaga.State.RESERVING and saga.deadline_at <= now
        self.stdout.write(
            f"saga {saga.state}"
            + (f" -> {saga.ending} ({saga.reason})" if saga.ending else "")
            + f"  started {saga.started_at:%Y-%m-%d %H:%M:%S}  deadline {saga.deadline_at:%Y-%m-%d %H:%M:%S}"
            + (f"  ended {saga.ended_at:%Y-%m-%d %H:%M:%S}" if saga.ended_at else "")
            + ("  OVERDUE" if overdue else "")
        )
        self.stdout.write("lines:")
        for line in order.lines.all():
            self.stdout.write(f"  {line.position}. {line.quantity} x {line.sku}  {line.stock}")
        self.stdout.write("steps:")
        for step in order.saga_steps.all():
            line = f" line {step.line.position}" if step.line else ""
            took = f" after {_ago(step.replied_at - step.sent_at)}" if step.replied_at else ""
            answer = (
                f" <- {step.reply_type}{took}" if step.reply_type else (" (awaiting reply)" if step.command_id else "")
            )
            self.stdout.write(
                f"  {step.sent_at:%H:%M:%S.%f}"[:-3]
                + f"  {step.action}{line}  {step.command_type}{answer}  attempts {step.attempts}"
                + (f"  {step.outcome}" if step.outcome else "")
                + (f"  ({step.note})" if step.note else "")
            )


def _ago(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"
