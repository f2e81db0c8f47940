"""The saga's decisions, straight from the transition table: plain objects, no database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from inventory.commands import CommitStock, ReleaseStock, ReserveStock
from orders.events import OrderCancelled, OrderConfirmed, OrderFailed
from orders.models import Order
from orders.statemachine import (
    ENDED,
    ORDER_STATUS,
    TRANSITIONS,
    Action,
    Decision,
    Ending,
    Input,
    LineStock,
    OrderStatus,
    State,
    decide,
    order_status,
    render_into,
)
from project.errors import IllegalTransition

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
Stock = LineStock


@dataclass
class FakeOrder:
    pk: uuid.UUID
    customer_id: int = 42
    total: Decimal = Decimal("30.00")


@dataclass
class FakeLine:
    position: int
    stock: str = Stock.REQUESTED
    sku: str = "CRUNCHY-ARMCHAIR"
    quantity: int = 1
    pk: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class FakeSaga:
    lines: list[FakeLine]
    state: str = State.RESERVING
    ending: str = ""
    reason: str = ""
    deadline_at: datetime = NOW + timedelta(seconds=30)
    order_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def order(self) -> FakeOrder:
        return FakeOrder(self.order_id)


def saga(*stocks: str, **kwargs: object) -> FakeSaga:
    skus = ["CRUNCHY-ARMCHAIR", "WOBBLY-TABLE", "RARE-VASE", "SHINY-LAMP"]
    return FakeSaga([FakeLine(i, stock, skus[i - 1]) for i, stock in enumerate(stocks, start=1)], **kwargs)


def line(s: FakeSaga, position: int) -> FakeLine:
    return s.lines[position - 1]


def unchanged(decision: Decision, s: FakeSaga) -> bool:
    return (
        not decision.changed
        and (decision.state, decision.ending, decision.reason) == (s.state, s.ending, s.reason)
        and not (decision.lines or decision.steps or decision.events or decision.commands)
    )


# --- Placing: fork ------------------------------------------------------------------------------


def test_placing_asks_inventory_for_every_line_at_once_in_line_order() -> None:
    s = saga(Stock.REQUESTED, Stock.REQUESTED, Stock.REQUESTED)
    decision = decide(s, Input.PLACED)
    assert decision.state == State.RESERVING
    assert [type(c.command) for c in decision.commands] == [ReserveStock] * 3
    assert [c.line_id for c in decision.commands] == [ln.pk for ln in s.lines]
    assert {c.action for c in decision.commands} == {Action.RESERVE}
    assert decision.commands[1].command.sku == "WOBBLY-TABLE"


# --- Reserving: join ----------------------------------------------------------------------------


def test_a_reservation_while_another_line_is_unanswered_moves_only_that_line() -> None:
    s = saga(Stock.REQUESTED, Stock.REQUESTED)
    decision = decide(s, Input.STOCK_RESERVED, line_id=line(s, 2).pk)
    assert decision.state == State.RESERVING
    assert decision.lines == {line(s, 2).pk: Stock.RESERVED}
    assert not (decision.events or decision.commands or decision.steps)
    assert decision.reply.outcome == "reserved" and decision.reply.action == Action.RESERVE


@pytest.mark.parametrize("last", [1, 2, 3])
def test_the_order_is_confirmed_only_when_every_line_is_reserved_whichever_answers_last(last: int) -> None:
    s = saga(*(Stock.REQUESTED if i == last else Stock.RESERVED for i in (1, 2, 3)))
    decision = decide(s, Input.STOCK_RESERVED, line_id=line(s, last).pk)
    assert decision.state == State.CONFIRMED and decision.ends
    assert decision.lines == {ln.pk: Stock.COMMITTING for ln in s.lines}
    assert decision.events == (OrderConfirmed(order_id=s.order_id, customer_id=42, total=Decimal("30.00")),)
    assert [type(c.command) for c in decision.commands] == [CommitStock] * 3
    assert [c.line_id for c in decision.commands] == [ln.pk for ln in s.lines]
    assert [step.action for step in decision.steps] == [Action.CONFIRM]


def test_no_confirmation_while_one_line_is_still_unanswered() -> None:
    s = saga(Stock.RESERVED, Stock.REQUESTED, Stock.REQUESTED)
    decision = decide(s, Input.STOCK_RESERVED, line_id=line(s, 3).pk)
    assert decision.state == State.RESERVING and not decision.events and not decision.commands


# --- Compensation --------------------------------------------------------------------------------


def test_a_refusal_releases_every_line_that_may_hold_stock_last_line_first() -> None:
    s = saga(Stock.RESERVED, Stock.REQUESTED, Stock.REQUESTED, Stock.RESERVED)
    decision = decide(s, Input.STOCK_REFUSED, line_id=line(s, 2).pk, reason="insufficient stock for WOBBLY-TABLE")
    assert (decision.state, decision.ending) == (State.COMPENSATING, Ending.FAILED)
    assert decision.reason == "insufficient stock for WOBBLY-TABLE"
    released = [line(s, 4).pk, line(s, 3).pk, line(s, 1).pk]
    assert [c.line_id for c in decision.commands] == released  # reverse line order, the refused line held nothing
    assert all(isinstance(c.command, ReleaseStock) and c.action == Action.RELEASE for c in decision.commands)
    assert decision.lines == {line(s, 2).pk: Stock.REFUSED, **dict.fromkeys(released, Stock.RELEASING)}
    assert [step.action for step in decision.steps] == [Action.COMPENSATE]
    assert not decision.events and not decision.ends
    assert decision.reply.outcome == "refused: insufficient stock for WOBBLY-TABLE"


def test_a_refusal_with_nothing_else_held_fails_the_order_at_once() -> None:
    s = saga(Stock.REQUESTED)
    decision = decide(s, Input.STOCK_REFUSED, line_id=line(s, 1).pk, reason="unknown sku GHOST-SOFA")
    assert decision.state == State.FAILED and decision.ends
    assert decision.events == (OrderFailed(order_id=s.order_id, customer_id=42, reason="unknown sku GHOST-SOFA"),)
    assert [step.action for step in decision.steps] == [Action.COMPENSATE, Action.FAIL]
    assert not decision.commands


@pytest.mark.parametrize(
    ("on", "kwargs", "ending"),
    [
        (Input.CANCEL, {"reason": "cancelled by the customer"}, Ending.CANCELLED),
        (Input.DEADLINE, {"reason": "timed out", "now": NOW + timedelta(seconds=30)}, Ending.FAILED),
        (Input.COMPENSATE_NOW, {"reason": "stuck", "note": "stuck (by ops)"}, Ending.FAILED),
    ],
)
def test_cancelling_a_deadline_or_an_operator_compensate_every_line_in_reverse(on, kwargs, ending) -> None:
    s = saga(Stock.RESERVED, Stock.REQUESTED)
    decision = decide(s, on, **kwargs)
    assert (decision.state, decision.ending, decision.reason) == (State.COMPENSATING, ending, kwargs["reason"])
    assert [c.line_id for c in decision.commands] == [line(s, 2).pk, line(s, 1).pk]
    assert decision.steps[-1].action == Action.COMPENSATE


def test_an_operator_compensation_records_the_operator_before_the_decision() -> None:
    decision = decide(saga(Stock.REQUESTED), Input.COMPENSATE_NOW, reason="stuck", note="stuck (by ops)")
    assert [(st.action, st.outcome, st.note) for st in decision.steps] == [
        (Action.OPERATOR, "compensate now", "stuck (by ops)"),
        (Action.COMPENSATE, Ending.FAILED, "stuck"),
    ]


@pytest.mark.parametrize("ending", list(Ending))
def test_the_last_release_ends_the_saga_in_its_ending_with_its_reason(ending: Ending) -> None:
    s = saga(Stock.RELEASED, Stock.REFUSED, Stock.RELEASING, state=State.COMPENSATING, ending=ending, reason="why")
    decision = decide(s, Input.STOCK_RELEASED, line_id=line(s, 3).pk, quantity=2)
    assert decision.state == State(ending) and decision.ends
    event = OrderCancelled if ending == Ending.CANCELLED else OrderFailed
    assert decision.events == (event(order_id=s.order_id, customer_id=42, reason="why"),)
    assert decision.steps[0].action == (Action.CANCEL if ending == Ending.CANCELLED else Action.FAIL)
    assert decision.reply.outcome == "released 2"


def test_a_release_while_another_is_awaited_only_moves_its_line() -> None:
    s = saga(Stock.RELEASING, Stock.RELEASING, state=State.COMPENSATING, ending=Ending.FAILED, reason="why")
    decision = decide(s, Input.STOCK_RELEASED, line_id=line(s, 2).pk, quantity=1)
    assert decision.state == State.COMPENSATING and decision.lines == {line(s, 2).pk: Stock.RELEASED}
    assert not decision.events


# --- Guards refusing illegal moves ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "ending", "message"),
    [
        (State.CONFIRMED, "", "is confirmed \\(confirmed\\); it can no longer be cancelled"),
        (State.FAILED, Ending.FAILED, "is failed \\(failed\\); it can no longer be cancelled"),
        (State.COMPENSATING, Ending.FAILED, "is reserving \\(compensating\\); it can no longer be cancelled"),
    ],
)
def test_a_cancellation_the_state_does_not_allow_is_refused(state: State, ending: str, message: str) -> None:
    with pytest.raises(IllegalTransition, match=message):
        decide(saga(Stock.COMMITTING, state=state, ending=ending), Input.CANCEL, reason="too late")


@pytest.mark.parametrize(
    "s",
    [
        saga(Stock.RELEASING, state=State.COMPENSATING, ending=Ending.CANCELLED),
        saga(Stock.RELEASED, state=State.CANCELLED, ending=Ending.CANCELLED),
    ],
)
def test_cancelling_twice_changes_nothing(s: FakeSaga) -> None:
    decision = decide(s, Input.CANCEL, reason="again")
    assert decision.state == s.state and not (decision.lines or decision.commands or decision.events or decision.steps)


@pytest.mark.parametrize(
    ("state", "hint"), [(State.COMPENSATING, "retry the step"), (State.CONFIRMED, "only a reserving saga")]
)
def test_an_operator_can_compensate_only_a_reserving_saga(state: State, hint: str) -> None:
    with pytest.raises(IllegalTransition, match=hint):
        decide(saga(Stock.RELEASING, state=state, ending=Ending.FAILED), Input.COMPENSATE_NOW, reason="r")


def test_a_retry_resends_what_each_state_awaits() -> None:
    reserving = saga(Stock.RESERVED, Stock.REQUESTED, Stock.REQUESTED)
    decision = decide(reserving, Input.RETRY)
    assert [c.line_id for c in decision.commands] == [line(reserving, 2).pk, line(reserving, 3).pk]
    assert decision.new_deadline and all(isinstance(c.command, ReserveStock) for c in decision.commands)
    compensating = saga(Stock.RELEASING, Stock.RELEASED, Stock.RELEASING, state=State.COMPENSATING, ending="failed")
    decision = decide(compensating, Input.RETRY)
    assert [c.line_id for c in decision.commands] == [line(compensating, 3).pk, line(compensating, 1).pk]
    assert not decision.new_deadline and all(isinstance(c.command, ReleaseStock) for c in decision.commands)
    confirmed = saga(Stock.COMMITTED, Stock.COMMITTING, state=State.CONFIRMED)
    assert [type(c.command) for c in decide(confirmed, Input.RETRY).commands] == [CommitStock]


@pytest.mark.parametrize(
    ("s", "message"),
    [
        (saga(Stock.RELEASED, state=State.FAILED, ending="failed"), "has ended \\(failed\\): no step to retry"),
        (saga(Stock.COMMITTED, state=State.CONFIRMED), "\\(confirmed\\) awaits no answer from inventory"),
        (saga(Stock.RESERVED, Stock.RESERVED), "\\(reserving\\) awaits no answer from inventory"),
    ],
)
def test_a_retry_with_nothing_awaited_is_refused(s: FakeSaga, message: str) -> None:
    with pytest.raises(IllegalTransition, match=message):
        decide(s, Input.RETRY)


# --- Deadlines, stale and late replies -----------------------------------------------------------


def test_a_deadline_not_yet_due_does_nothing() -> None:
    s = saga(Stock.REQUESTED)
    assert unchanged(decide(s, Input.DEADLINE, reason="timed out", now=NOW), s)


@pytest.mark.parametrize(
    "s",
    [
        saga(Stock.COMMITTING, state=State.CONFIRMED),
        saga(Stock.RELEASED, state=State.FAILED, ending="failed", reason="x"),
        saga(Stock.RELEASING, state=State.COMPENSATING, ending="cancelled", reason="x"),
    ],
)
def test_a_deadline_after_the_end_or_during_compensation_does_nothing(s: FakeSaga) -> None:
    assert unchanged(decide(s, Input.DEADLINE, reason="timed out", now=NOW + timedelta(days=1)), s)


@pytest.mark.parametrize(
    ("state", "stock"),
    [
        (State.COMPENSATING, Stock.RELEASING),
        (State.COMPENSATING, Stock.RELEASED),
        (State.FAILED, Stock.RELEASED),
        (State.CANCELLED, Stock.RELEASED),
        (State.FAILED, Stock.REFUSED),
    ],
)
def test_a_late_reservation_never_resurrects_a_line(state: State, stock: str) -> None:
    s = saga(stock, state=state, ending=Ending.FAILED if state != State.CANCELLED else Ending.CANCELLED, reason="x")
    decision = decide(s, Input.STOCK_RESERVED, line_id=line(s, 1).pk)
    assert unchanged(decision, s)
    assert decision.reply.outcome == f"reserved while the line was {stock}"


@pytest.mark.parametrize(
    ("s", "on", "outcome"),
    [
        (saga(Stock.RESERVED, Stock.REQUESTED), Input.STOCK_RESERVED, "reserved while the line was reserved"),
        (saga(Stock.COMMITTED, state=State.CONFIRMED), Input.STOCK_COMMITTED, "committed"),
        (saga(Stock.RELEASED, state=State.FAILED, ending="failed"), Input.STOCK_RELEASED, "released 0"),
        (
            saga(Stock.RELEASING, state=State.COMPENSATING, ending="failed"),
            Input.STOCK_REFUSED,
            "refused while the line was releasing: no",
        ),
    ],
)
def test_a_repeated_or_stale_reply_is_recorded_and_changes_nothing(s: FakeSaga, on: Input, outcome: str) -> None:
    decision = decide(s, on, line_id=line(s, 1).pk, reason="no")
    assert unchanged(decision, s)
    assert decision.reply.line_id == line(s, 1).pk and decision.reply.outcome == outcome


def test_a_reply_about_a_line_the_order_does_not_have_is_an_error() -> None:
    with pytest.raises(LookupError, match="has no line"):
        decide(saga(Stock.REQUESTED), Input.STOCK_RESERVED, line_id=uuid.uuid4())


# --- The order's status follows the saga ---------------------------------------------------------


def test_every_saga_state_implies_one_order_status_and_the_ends_match() -> None:
    assert set(ORDER_STATUS) == set(State)
    assert {order_status(state) for state in ENDED} == Order.TERMINAL
    assert order_status(State.COMPENSATING) == OrderStatus.RESERVING  # ends only once nothing is held


@pytest.mark.parametrize("state", list(State))
def test_an_order_following_its_saga_takes_the_status_the_state_implies(state: State) -> None:
    order = Order(status=OrderStatus.PENDING, version=1)  # not saved: no database
    assert order.follow(state, "why")
    assert order.status == order_status(state) and order.version == 2
    assert order.failure_reason == ("why" if state in (State.FAILED, State.CANCELLED) else "")
    assert not order.follow(state, "why") and order.version == 2  # the same state again changes nothing


def test_every_row_of_the_table_is_reachable_only_from_a_real_state_and_lands_on_one() -> None:
    for row in TRANSITIONS:
        assert row.source is None or row.source in State
        assert row.target in State or row.target == "its ending"
        if row.ending is not None:
            assert row.target in (State.COMPENSATING, State(row.ending))


# --- The table is drawn in docs/domains.md -------------------------------------------------------


def test_docs_domains_shows_the_current_transition_table() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "domains.md").read_text()
    assert render_into(doc) == doc, "docs/domains.md is stale: run `manage.py saga_table`"
