"""The messaging metrics' series, each at 0 from the start for every label value known up front.

A labelled Prometheus series appears only once a value for its labels is first created: without
this, ``messaging_deliveries_retried_total`` would be missing until the first retry, and an alert
on it would have nothing to evaluate. The labels known at start-up are the registered message
types, the subscribed handlers and their queues; the outcomes of handling are fixed. What is not
known up front (the error type of a dead letter) appears with its first occurrence.
"""

from __future__ import annotations

from project.messaging import metrics
from project.messaging.contract.events import registered_types
from project.messaging.registry.routing import all_subscriptions


def prefill_metrics() -> None:
    """Create every series the registry can name (idempotent and cheap: a dictionary look-up each)."""
    for event_type in registered_types():
        metrics.EVENTS_PUBLISHED.labels(event_type)
    for sub in all_subscriptions():
        metrics.DELIVERIES_SENT.labels(sub.queue)
        for outcome in metrics.HANDLED_OUTCOMES:
            metrics.DELIVERIES_HANDLED.labels(sub.handler_name, outcome)
        metrics.DELIVERIES_RETRIED.labels(sub.handler_name)
        metrics.HANDLER_SECONDS.labels(sub.handler_name)
        metrics.END_TO_END_SECONDS.labels(sub.handler_name)
