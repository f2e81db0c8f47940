"""A message's envelope as raw JSON, written by hand: what an older or a broken producer may send."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone


def raw_envelope(
    event_type: str,
    payload: dict[str, Any],
    *,
    producer: str,
    aggregate_type: str,
    aggregate_id: str | None = None,
) -> dict[str, Any]:
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": timezone.now().isoformat(),
        "producer": producer,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id or str(uuid.uuid4()),
        "correlation_id": event_id,
        "payload": payload,
    }
