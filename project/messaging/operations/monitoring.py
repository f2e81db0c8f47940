"""Gauges about the state of the messaging layer, computed when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from project.messaging.operations.health import messaging_state
from project.messaging.registry.databases import database_for
from project.messaging.registry.routing import all_subscriptions


class MessagingStateCollector(Collector):
    """Outbox backlog and age, inbox throughput, open dead letters, every queue's length (and on
    RabbitMQ its consumers), and whether the broker answered."""

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
        reachable = GaugeMetricFamily(
            "messaging_broker_reachable", "1 when the broker answered the queue lengths' question, else 0."
        )
        consumers = GaugeMetricFamily(
            "messaging_queue_consumers",
            "Consumers of each broker queue (RabbitMQ; Redis does not count them).",
            labels=["queue"],
        )
        state = messaging_state()
        # Every subscribed handler has a series in the database its dead letters go to, at 0
        # while it has none: "any dead letter" alerts need a value to compare.
        handlers_by_database: dict[str, set[str]] = {}
        for sub in all_subscriptions():
            handlers_by_database.setdefault(database_for(sub.app_label), set()).add(sub.handler_name)
        for db in state.databases:
            backlog.add_metric([db.alias, "pending"], db.pending)
            backlog.add_metric([db.alias, "sent"], db.unconfirmed)
            oldest.add_metric([db.alias], db.oldest_pending_age)
            throughput.add_metric([db.alias], db.processed_per_minute)
            open_letters = dict.fromkeys(sorted(handlers_by_database.get(db.alias, ())), 0)
            open_letters.update(db.dead_letters_by_handler)
            for handler, n in open_letters.items():
                letters.add_metric([db.alias, handler], n)
        for queue, n in (state.queue_lengths or {}).items():
            lengths.add_metric([queue], n)
        for queue, n in (state.queue_consumers or {}).items():
            consumers.add_metric([queue], n)
        reachable.add_metric([], 0 if state.queue_lengths is None else 1)
        yield from (backlog, oldest, throughput, letters, lengths, consumers, reachable)
