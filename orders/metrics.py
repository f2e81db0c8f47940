"""Prometheus metrics of the orders domain (each series at 0 from the start: docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from orders.statemachine import State

SAGA_SECONDS = Histogram(
    "orders_saga_duration_seconds",
    "From placement to the end of the order saga, by outcome (confirmed, failed, cancelled).",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
# The states a saga ends in, known up front: each outcome's series exists before the first ending.
for _outcome in (State.CONFIRMED, State.FAILED, State.CANCELLED):
    SAGA_SECONDS.labels(_outcome.value)

SAGA_DEADLINES_EXPIRED = Counter(
    "orders_saga_deadlines_expired",
    "Sagas compensated because their reservation deadline passed (inventory did not answer in time).",
)
