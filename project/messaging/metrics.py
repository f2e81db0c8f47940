"""Prometheus metrics of the messaging layer.

Counters and histograms are updated in whichever process does the work (web, relay, workers).
With PROMETHEUS_MULTIPROC_DIR set (bin/run and production do), prometheus_client writes them to
files there and /metrics adds up every process's values; without it each process counts alone.
Gauges about state (backlog, queue lengths, dead letters) are computed when /metrics is scraped
(project.messaging.operations.monitoring), so they are right whichever process answers.

Every series whose labels are known at start-up (each registered message type, each subscribed
handler and its queue) is exported at 0 from the start (project.messaging.registry.series), so
that an alert or a ``rate()`` over it has a value before the first event: docs/operations.md,
"Every series", lists them (tests/observability/test_series.py holds the two together).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_PUBLISHED = Counter(
    "messaging_events_published", "Messages written to the outbox (counted at commit).", ["event_type"]
)
DELIVERIES_SENT = Counter("messaging_deliveries_sent", "Deliveries sent to the broker by the relay.", ["queue"])
DELIVERIES_RETURNED = Counter(
    "messaging_deliveries_returned",
    "Deliveries the broker returned as unroutable (RabbitMQ, a missing queue): left pending, sent again.",
)
RELAY_BATCH_SECONDS = Histogram(
    "messaging_relay_batch_seconds",
    "Time to claim, send and mark one relay batch.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# The outcomes of handling a delivery (project.messaging.inbox.consumer.Outcome's values).
HANDLED_OUTCOMES = ("processed", "duplicate", "retry", "dead_lettered")
DELIVERIES_HANDLED = Counter(
    "messaging_deliveries_handled",
    "Deliveries consumed, by outcome (processed, duplicate, retry, dead_lettered).",
    ["handler", "outcome"],
)
DELIVERIES_RETRIED = Counter("messaging_deliveries_retried", "Transient failures that will be retried.", ["handler"])
DEAD_LETTERED = Counter(
    "messaging_dead_lettered", "Deliveries parked in the dead-letter table.", ["handler", "error_type"]
)
HANDLER_SECONDS = Histogram(
    "messaging_handler_seconds",
    "Time to apply one delivery (inbox insert, handler, commit).",
    ["handler"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
END_TO_END_SECONDS = Histogram(
    "messaging_end_to_end_seconds",
    "From the event's occurred_at to its processing by one handler.",
    ["handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
