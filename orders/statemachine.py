"""The order saga as data: its states, one transition table, and the decisions read from it.

Pure: no ORM, no database, no clock (``now`` is passed in). A decision takes what the saga
knows (``SagaFacts``: its state, ending and reason, deadline, the order's lines and their stock)
and an input (a reply from inventory, the customer's cancellation, the deadline, an operator),
finds the first row of ``TRANSITIONS`` whose source, input and guard match, and returns a
``Decision``: the saga's next state, the lines it moves, the history steps to record and the
messages to publish ("record, don't dispatch"). orders.saga persists a decision and publishes
its messages in the caller's transaction.

The order's own status is never decided separately: it is ``order_status(state)``, written by
orders.saga from the decision and nowhere else, so the order cannot disagree with its saga.

Two levels: the saga's ``State``, and each line's ``LineStock`` (where the saga stands with
that line's stock). Lines are reserved in parallel (fork) and the order is confirmed only when
every line is reserved (join); compensation releases, last line first, every line that may hold
stock. An input no row matches changes nothing: a reply is recorded (as stale if no step awaits
it), a deadline after the end does nothing, and a cancellation or operator action is refused
with IllegalTransition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from django.db.models import TextChoices

from inventory.commands import CommitStock, ReleaseStock, ReserveStock
from orders.events import OrderCancelled, OrderConfirmed, OrderFailed
from project.errors import IllegalTransition
from project.messaging import Command, Event


class State(TextChoices):
    """Where the saga of an order stands."""

    RESERVING = "reserving"
    COMPENSATING = "compensating"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Ending(TextChoices):
    """What a compensation ends in: the saga's state once inventory has answered every release."""

    FAILED = "failed"
    CANCELLED = "cancelled"


class OrderStatus(TextChoices):
    """The order's status, as the API shows it: derived from the saga's state (order_status)."""

    PENDING = "pending"  # a row written before its saga; placement writes it reserving at once
    RESERVING = "reserving"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LineStock(TextChoices):
    """Where the saga stands with one line's stock."""

    REQUESTED = "requested", "reservation requested"
    RESERVED = "reserved"
    REFUSED = "refused", "reservation refused"
    RELEASING = "releasing", "release requested"
    RELEASED = "released"
    COMMITTING = "committing", "commit requested"
    COMMITTED = "committed"


class Action(TextChoices):
    """What a step of the saga's history records: a command sent (and its reply), or a decision."""

    RESERVE = "reserve"
    RELEASE = "release"
    COMMIT = "commit"
    CONFIRM = "confirm"
    COMPENSATE = "compensate"
    FAIL = "fail"
    CANCEL = "cancel"
    STALE_REPLY = "stale_reply", "stale reply ignored"
    OPERATOR = "operator", "operator action"


class Input(StrEnum):
    """What drives the saga."""

    PLACED = "placed"
    STOCK_RESERVED = "StockReserved"
    STOCK_REFUSED = "StockReservationFailed"
    STOCK_RELEASED = "StockReleased"
    STOCK_COMMITTED = "StockCommitted"
    CANCEL = "cancel"
    DEADLINE = "deadline passes"
    COMPENSATE_NOW = "operator compensates"
    RETRY = "operator retries"


ENDED = frozenset({State.CONFIRMED, State.FAILED, State.CANCELLED})

ORDER_STATUS: dict[State, OrderStatus] = {
    State.RESERVING: OrderStatus.RESERVING,
    State.COMPENSATING: OrderStatus.RESERVING,  # the order only ends once nothing is held for it
    State.CONFIRMED: OrderStatus.CONFIRMED,
    State.FAILED: OrderStatus.FAILED,
    State.CANCELLED: OrderStatus.CANCELLED,
}

# Lines that may hold stock: compensation must release them (refused lines hold nothing).
HOLDING = frozenset({LineStock.REQUESTED, LineStock.RESERVED})

# The step a reply answers, by input.
REPLY_ACTION: dict[Input, Action] = {
    Input.STOCK_RESERVED: Action.RESERVE,
    Input.STOCK_REFUSED: Action.RESERVE,
    Input.STOCK_RELEASED: Action.RELEASE,
    Input.STOCK_COMMITTED: Action.COMMIT,
}


def order_status(state: str) -> OrderStatus:
    """The order's status while its saga is in ``state``."""
    return ORDER_STATUS[State(state)]


# --- What a decision reads ---------------------------------------------------------------------


class OrderFacts(Protocol):
    pk: UUID
    customer_id: int
    total: Decimal


class LineFacts(Protocol):
    pk: UUID
    position: int
    sku: str
    quantity: int
    stock: str


class SagaFacts(Protocol):
    """The saga as a decision sees it (an OrderSaga row, or a plain object in tests).

    ``order`` is read only by the decisions that end the saga (their events name the customer
    and total); ``lines`` are the order's lines in position order."""

    order_id: UUID
    state: str
    ending: str
    reason: str
    deadline_at: datetime

    @property
    def order(self) -> OrderFacts: ...

    @property
    def lines(self) -> Sequence[LineFacts]: ...


@dataclass(frozen=True)
class Context:
    saga: SagaFacts
    on: Input
    line: LineFacts | None = None
    reason: str = ""
    note: str = ""
    now: datetime | None = None

    def others(self) -> list[LineFacts]:
        return [other for other in self.saga.lines if self.line is None or other.pk != self.line.pk]


# --- What a decision returns -------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    """A history step that records a decision (not a command)."""

    action: Action
    outcome: str
    note: str = ""


@dataclass(frozen=True)
class LineCommand:
    """A command about one line, and the step that will await its reply."""

    line_id: UUID
    action: Action
    command: Command


@dataclass(frozen=True)
class ReplyRecord:
    """What to write on the step a reply answers (or on a stale-reply step, if none awaits it)."""

    line_id: UUID
    action: Action
    outcome: str


@dataclass(frozen=True)
class Decision:
    transition: Transition | None  # the row applied; None: nothing changes
    state: State
    ending: str
    reason: str
    lines: dict[UUID, LineStock] = field(default_factory=dict)  # the lines it moves, and where to
    steps: tuple[StepRecord, ...] = ()
    events: tuple[Event, ...] = ()  # the order's events, published with its new version
    commands: tuple[LineCommand, ...] = ()
    reply: ReplyRecord | None = None
    new_deadline: bool = False  # a retry while reserving gives inventory a fresh deadline

    @property
    def changed(self) -> bool:
        return self.transition is not None

    @property
    def ends(self) -> bool:
        """The saga reaches an end state with this decision."""
        return self.transition is not None and self.transition.source != self.state and self.state in ENDED


# --- The table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    text: str
    test: Callable[[Context], bool]


@dataclass(frozen=True)
class Effect:
    """What a transition does besides moving the saga: the lines it moves, steps and messages."""

    text: str
    apply: Callable[[Context, State, str, str], Decision]


# A target naming no state: the ending the compensation was started for (failed or cancelled).
ITS_ENDING = "its ending"


@dataclass(frozen=True)
class Transition:
    source: State | None  # None: the saga does not exist yet
    on: Input
    guard: Guard
    target: State | str  # a State, or ITS_ENDING
    line: LineStock | None  # what the line the input is about becomes
    ending: Ending | None  # the ending a compensation starts for
    effect: Effect


def _line_is(stock: LineStock) -> Callable[[Context], bool]:
    return lambda ctx: ctx.line is not None and ctx.line.stock == stock


ALWAYS = Guard("", lambda ctx: True)
OTHERS_PENDING = Guard(
    "line requested, another line not reserved yet",
    lambda ctx: _line_is(LineStock.REQUESTED)(ctx) and any(o.stock != LineStock.RESERVED for o in ctx.others()),
)
ALL_RESERVED = Guard(
    "line requested, every other line reserved",
    lambda ctx: _line_is(LineStock.REQUESTED)(ctx) and all(o.stock == LineStock.RESERVED for o in ctx.others()),
)
OTHERS_HOLD = Guard(
    "line requested, another line may hold stock",
    lambda ctx: _line_is(LineStock.REQUESTED)(ctx) and any(o.stock in HOLDING for o in ctx.others()),
)
NONE_HOLD = Guard(
    "line requested, no other line holds stock",
    lambda ctx: _line_is(LineStock.REQUESTED)(ctx) and not any(o.stock in HOLDING for o in ctx.others()),
)
MORE_RELEASING = Guard(
    "line releasing, another line still releasing",
    lambda ctx: _line_is(LineStock.RELEASING)(ctx) and any(o.stock == LineStock.RELEASING for o in ctx.others()),
)
LAST_RELEASE = Guard(
    "line releasing, the last one",
    lambda ctx: _line_is(LineStock.RELEASING)(ctx) and not any(o.stock == LineStock.RELEASING for o in ctx.others()),
)
COMMITTING = Guard("line committing", _line_is(LineStock.COMMITTING))
OVERDUE = Guard("deadline passed", lambda ctx: ctx.now is not None and ctx.saga.deadline_at <= ctx.now)
CANCELLING = Guard("being cancelled", lambda ctx: ctx.saga.ending == Ending.CANCELLED)
AWAITS_RESERVE = Guard("a line requested", lambda ctx: any(o.stock == LineStock.REQUESTED for o in ctx.saga.lines))
AWAITS_RELEASE = Guard("a line releasing", lambda ctx: any(o.stock == LineStock.RELEASING for o in ctx.saga.lines))
AWAITS_COMMIT = Guard("a line committing", lambda ctx: any(o.stock == LineStock.COMMITTING for o in ctx.saga.lines))


def _reserve(line: LineFacts, order_id: UUID) -> LineCommand:
    return LineCommand(
        line.pk,
        Action.RESERVE,
        ReserveStock(order_id=order_id, line_id=line.pk, sku=line.sku, quantity=line.quantity),
    )


def _release(line: LineFacts, order_id: UUID) -> LineCommand:
    return LineCommand(line.pk, Action.RELEASE, ReleaseStock(order_id=order_id, line_id=line.pk, sku=line.sku))


def _commit(line: LineFacts, order_id: UUID) -> LineCommand:
    return LineCommand(line.pk, Action.COMMIT, CommitStock(order_id=order_id, line_id=line.pk, sku=line.sku))


def _moved(ctx: Context, line_to: LineStock | None) -> dict[UUID, LineStock]:
    return {ctx.line.pk: line_to} if ctx.line is not None and line_to is not None else {}


def _nothing(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    return Decision(None, state, ending, reason)  # completed by decide(): transition, line


def _reserve_every_line(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    saga = ctx.saga
    return Decision(None, state, ending, reason, commands=tuple(_reserve(line, saga.order_id) for line in saga.lines))


def _confirm(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    saga, order = ctx.saga, ctx.saga.order
    return Decision(
        None,
        state,
        ending,
        reason,
        lines={line.pk: LineStock.COMMITTING for line in saga.lines},
        steps=(StepRecord(Action.CONFIRM, "confirmed"),),
        events=(OrderConfirmed(order_id=order.pk, customer_id=order.customer_id, total=order.total),),
        commands=tuple(_commit(line, saga.order_id) for line in saga.lines),
    )


def _compensate(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    saga = ctx.saga
    held = [line for line in sorted(ctx.others(), key=lambda line: -line.position) if line.stock in HOLDING]
    steps = [StepRecord(Action.COMPENSATE, ending, reason)]
    if ctx.on is Input.COMPENSATE_NOW:
        steps.insert(0, StepRecord(Action.OPERATOR, "compensate now", ctx.note))
    return Decision(
        None,
        state,
        ending,
        reason,
        lines={line.pk: LineStock.RELEASING for line in held},
        steps=tuple(steps),
        commands=tuple(_release(line, saga.order_id) for line in held),
    )


def _end(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    order = ctx.saga.order
    if state == State.CANCELLED:
        event: Event = OrderCancelled(order_id=order.pk, customer_id=order.customer_id, reason=reason)
        step = StepRecord(Action.CANCEL, ending, reason)
    else:
        event = OrderFailed(order_id=order.pk, customer_id=order.customer_id, reason=reason)
        step = StepRecord(Action.FAIL, ending, reason)
    return Decision(None, state, ending, reason, steps=(step,), events=(event,))


def _refuse_and_end(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    # A refusal with nothing else held: compensation has nothing to release and ends at once.
    compensation, end = _compensate(ctx, state, ending, reason), _end(ctx, state, ending, reason)
    return Decision(None, state, ending, reason, steps=compensation.steps + end.steps, events=end.events)


def _resend(ctx: Context, state: State, ending: str, reason: str) -> Decision:
    saga = ctx.saga
    stock, build = {
        State.RESERVING: (LineStock.REQUESTED, _reserve),
        State.COMPENSATING: (LineStock.RELEASING, _release),
        State.CONFIRMED: (LineStock.COMMITTING, _commit),
    }[State(saga.state)]
    lines = [line for line in saga.lines if line.stock == stock]
    if stock == LineStock.RELEASING:
        lines.reverse()  # releases go last line first, as compensation sent them
    return Decision(
        None,
        state,
        ending,
        reason,
        commands=tuple(build(line, saga.order_id) for line in lines),
        new_deadline=state == State.RESERVING,
    )


NOTHING = Effect("", _nothing)
RESERVE_EVERY_LINE = Effect("OrderPlaced; ReserveStock per line, all at once", _reserve_every_line)
CONFIRM = Effect("OrderConfirmed; CommitStock per line (lines: committing)", _confirm)
COMPENSATE = Effect("ReleaseStock per line that may hold stock, last line first (lines: releasing)", _compensate)
END = Effect("OrderFailed or OrderCancelled, with the reason", _end)
REFUSE_AND_END = Effect("OrderFailed, with inventory's reason", _refuse_and_end)
RESEND = Effect("the awaited command again, per awaiting line (reserving: a fresh deadline)", _resend)

S, I, L, E, T = State, Input, LineStock, Ending, Transition

# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    # source          input              guard           target          line         ending       effect
    T(None,           I.PLACED,          ALWAYS,         S.RESERVING,    None,        None,        RESERVE_EVERY_LINE),
    T(S.RESERVING,    I.STOCK_RESERVED,  OTHERS_PENDING, S.RESERVING,    L.RESERVED,  None,        NOTHING),
    T(S.RESERVING,    I.STOCK_RESERVED,  ALL_RESERVED,   S.CONFIRMED,    L.RESERVED,  None,        CONFIRM),
    T(S.RESERVING,    I.STOCK_REFUSED,   OTHERS_HOLD,    S.COMPENSATING, L.REFUSED,   E.FAILED,    COMPENSATE),
    T(S.RESERVING,    I.STOCK_REFUSED,   NONE_HOLD,      S.FAILED,       L.REFUSED,   E.FAILED,    REFUSE_AND_END),
    T(S.RESERVING,    I.CANCEL,          ALWAYS,         S.COMPENSATING, None,        E.CANCELLED, COMPENSATE),
    T(S.RESERVING,    I.DEADLINE,        OVERDUE,        S.COMPENSATING, None,        E.FAILED,    COMPENSATE),
    T(S.RESERVING,    I.COMPENSATE_NOW,  ALWAYS,         S.COMPENSATING, None,        E.FAILED,    COMPENSATE),
    T(S.COMPENSATING, I.STOCK_RELEASED,  MORE_RELEASING, S.COMPENSATING, L.RELEASED,  None,        NOTHING),
    T(S.COMPENSATING, I.STOCK_RELEASED,  LAST_RELEASE,   ITS_ENDING,     L.RELEASED,  None,        END),
    T(S.COMPENSATING, I.CANCEL,          CANCELLING,     S.COMPENSATING, None,        None,        NOTHING),
    T(S.CANCELLED,    I.CANCEL,          ALWAYS,         S.CANCELLED,    None,        None,        NOTHING),
    T(S.CONFIRMED,    I.STOCK_COMMITTED, COMMITTING,     S.CONFIRMED,    L.COMMITTED, None,        NOTHING),
    T(S.RESERVING,    I.RETRY,           AWAITS_RESERVE, S.RESERVING,    None,        None,        RESEND),
    T(S.COMPENSATING, I.RETRY,           AWAITS_RELEASE, S.COMPENSATING, None,        None,        RESEND),
    T(S.CONFIRMED,    I.RETRY,           AWAITS_COMMIT,  S.CONFIRMED,    None,        None,        RESEND),
)
# fmt: on


# --- Deciding ----------------------------------------------------------------------------------


# The rows by (source, input), in table order: a reply tests only the guards of its own rows.
_ROWS: dict[tuple[State | None, Input], list[Transition]] = {}
for _row in TRANSITIONS:
    _ROWS.setdefault((_row.source, _row.on), []).append(_row)


def transition_for(ctx: Context) -> Transition | None:
    """The first row of the table whose source, input and guard match."""
    source = State(ctx.saga.state) if ctx.on is not Input.PLACED else None
    for row in _ROWS.get((source, ctx.on), ()):
        if row.guard.test(ctx):
            return row
    return None


def decide(
    saga: SagaFacts,
    on: Input,
    *,
    line_id: UUID | None = None,
    reason: str = "",
    note: str = "",
    quantity: int = 0,
    now: datetime | None = None,
) -> Decision:
    """What ``on`` does to ``saga``. Raises IllegalTransition for a cancellation or an operator
    action the saga's state does not allow; any other input that matches no row changes nothing.

    ``reason``: inventory's refusal, or why the saga is cancelled or compensated (the order's
    failure reason); ``note``: an operator's note for the history; ``quantity``: what a release
    gave back (recorded); ``now``: the deadline sweep's clock.
    """
    line = _line(saga, line_id) if line_id is not None else None
    ctx = Context(saga, on, line, reason, note, now)
    row = transition_for(ctx)
    reply = _reply_record(ctx, matched=row is not None, quantity=quantity)
    if row is None:
        _refuse(ctx)
        return Decision(None, State(saga.state), saga.ending, saga.reason, reply=reply)
    # A row that starts a compensation sets its ending and reason; the others keep the saga's.
    ending = row.ending if row.ending is not None else saga.ending
    compensation_reason = reason if row.ending is not None else saga.reason
    target = State(ending) if row.target == ITS_ENDING else State(row.target)
    made = row.effect.apply(ctx, target, ending, compensation_reason)
    return Decision(
        row,
        target,
        ending,
        compensation_reason,
        lines={**_moved(ctx, row.line), **made.lines},
        steps=made.steps,
        events=made.events,
        commands=made.commands,
        reply=reply,
        new_deadline=made.new_deadline,
    )


def _line(saga: SagaFacts, line_id: UUID) -> LineFacts:
    for line in saga.lines:
        if line.pk == line_id:
            return line
    raise LookupError(f"Order {saga.order_id} has no line {line_id}.")


def _reply_record(ctx: Context, *, matched: bool, quantity: int) -> ReplyRecord | None:
    action = REPLY_ACTION.get(ctx.on)
    if action is None or ctx.line is None:
        return None
    stock = ctx.line.stock
    if ctx.on is Input.STOCK_RESERVED:
        outcome = "reserved" if matched else f"reserved while the line was {stock}"
    elif ctx.on is Input.STOCK_REFUSED:
        outcome = f"refused: {ctx.reason}" if matched else f"refused while the line was {stock}: {ctx.reason}"
    elif ctx.on is Input.STOCK_RELEASED:
        outcome = f"released {quantity}"
    else:
        outcome = "committed"
    return ReplyRecord(ctx.line.pk, action, outcome)


def _refuse(ctx: Context) -> None:
    """An input that must be refused when no row allows it (the others change nothing)."""
    saga, state = ctx.saga, ctx.saga.state
    if ctx.on is Input.CANCEL:
        raise IllegalTransition(
            f"Order {saga.order_id} is {order_status(state)} ({state}); it can no longer be cancelled."
        )
    if ctx.on is Input.COMPENSATE_NOW:
        hint = " (retry the step to re-send its releases)" if state == State.COMPENSATING else ""
        raise IllegalTransition(
            f"The saga of order {saga.order_id} is {state}: only a reserving saga can be compensated{hint}."
        )
    if ctx.on is Input.RETRY:
        if state in (State.FAILED, State.CANCELLED):
            raise IllegalTransition(f"The saga of order {saga.order_id} has ended ({state}): no step to retry.")
        raise IllegalTransition(
            f"The saga of order {saga.order_id} ({state}) awaits no answer from inventory: no step to retry."
        )


# --- The table drawn (docs/domains.md, between the markers; `manage.py saga_table` rewrites it) ---

DOC_START = "<!-- saga-table:start (generated from orders/statemachine.py by `manage.py saga_table`) -->"
DOC_END = "<!-- saga-table:end -->"


def _name(value: State | str | None) -> str:
    return "(new)" if value is None else str(value)


def render_markdown() -> str:
    """The transition table as a mermaid state diagram and a markdown table."""
    diagram = ["```mermaid", "stateDiagram-v2"]
    for row in TRANSITIONS:
        if row.source == row.target or row.on is Input.RETRY:
            continue  # self-loops are in the table below; the diagram shows the moves
        source = "[*]" if row.source is None else row.source
        targets = [str(e) for e in Ending] if row.target == ITS_ENDING else [str(row.target)]
        label = row.on.value + (f" [{row.guard.text}]" if row.guard.text else "")
        for target in targets:
            ending = f" (ending {target})" if row.target == ITS_ENDING else ""
            diagram.append(f"    {source} --> {target}: {label}{ending}")
    diagram += [f"    {state} --> [*]" for state in State if state in ENDED]
    diagram.append("```")
    table = [
        "| From | On | Guard | To | Line becomes | Compensation ends | Publishes / does |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in TRANSITIONS:
        table.append(
            f"| {_name(row.source)} | {row.on.value} | {row.guard.text or '-'} | {row.target} | "
            f"{row.line or '-'} | {row.ending or '-'} | {row.effect.text or '-'} |"
        )
    statuses = ", ".join(f"{state} -> `{status}`" for state, status in ORDER_STATUS.items())
    footer = [
        "",
        "Any other input changes nothing: a reply is recorded on the step awaiting it (as a",
        "`stale_reply` step if none does), a deadline after the end does nothing, and a cancellation",
        "or an operator action the table does not allow is refused (IllegalTransition).",
        "",
        f"The order's status follows the saga's state: {statuses}.",
    ]
    return "\n".join([*diagram, "", *table, *footer]) + "\n"


def render_into(doc: str) -> str:
    """``doc`` with the text between the markers replaced by the rendered table."""
    start, end = doc.index(DOC_START) + len(DOC_START), doc.index(DOC_END)
    return doc[:start] + "\n" + render_markdown() + doc[end:]
