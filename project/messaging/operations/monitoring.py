"""Gauges about the state of the messaging layer, computed when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from project.messaging.operations.health import messaging_state


class MessagingStateCollector(Collector):
    """Outbox backlog and age, inbox throughput, open dead letters, every queue's length, and on
    RabbitMQ its consumers."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "messaging_outbox_backlog", "Deliveries not yet processed, by status.", labels=["database", "status"]
        )
        oldest = GaugeMetricFamily(
            "messaging_outbox_oldest_unsent_age_seconds",
            "Age of the oldest delivery not sent yet.",
            labels=["database"],
        )
        throughput = GaugeMetricFamily(
            "messaging_inbox_processed_per_minute",
            "Deliveries applied per minute, over the last five minutes.",
            labels=["database"],
        )
        letters = GaugeMetricFamily(
            "messaging_dead_letters_open", "Dead letters awaiting an operator.", labels=["database", "handler"]
        )
        lengths = GaugeMetricFamily(
            "messaging_queue_length", "Messages waiting in each broker queue.", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "messaging_queue_consumers",
            "Consumers of each broker queue (RabbitMQ; Redis does not count them).",
            labels=["queue"],
        )
        state = messaging_state()
        for db in state.databases:
            backlog.add_metric([db.alias, "pending"], db.pending)
            backlog.add_metric([db.alias, "sent"], db.unconfirmed)
            oldest.add_metric([db.alias], db.oldest_pending_age)
            throughput.add_metric([db.alias], db.processed_per_minute)
            for handler, n in db.dead_letters_by_handler.items():
                letters.add_metric([db.alias, handler], n)
        for queue, n in (state.queue_lengths or {}).items():
            lengths.add_metric([queue], n)
        for queue, n in (state.queue_consumers or {}).items():
            consumers.add_metric([queue], n)
        yield from (backlog, oldest, throughput, letters, lengths, consumers)
