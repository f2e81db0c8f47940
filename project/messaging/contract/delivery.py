"""The wire format of a delivery: what one Celery message carries from the outbox to an inbox.

Both sides build on it: the producer (publish, the relay) writes it, the consumer reads it; so
neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def delivery_task_name(queue: str) -> str:
    """The Celery task a delivery travels as, routed to the consuming app's own queue."""
    return f"{queue}.deliver"


def acknowledgement_task_name(queue: str) -> str:
    """The Celery task a batch of acknowledgements travels as, to the producing app's queue."""
    return f"{queue}.acknowledge"


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt at one delivery, as carried by a Celery message (all JSON types)."""

    envelope: dict[str, Any]
    handler: str
    # The delivery's id on the producer's database: the consumer marks it processed there, or
    # acknowledges it to the producer (the envelope's ``producer``) when that is another database.
    delivery_id: int | None = None
    attempt: int = 1
    first_failed_at: str | None = None
    # In-process only (not a task argument): an operator's replay, which may close a dead letter.
    replay: bool = False

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the "<queue>.deliver" Celery task for this delivery."""
        return {
            "envelope": self.envelope,
            "handler": self.handler,
            "delivery_id": self.delivery_id,
            "first_failed_at": self.first_failed_at,
        }
