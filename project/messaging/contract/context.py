"""What the current thread of work is about: the message being handled, or the HTTP request.

publish() reads it to fill correlation and causation ids, so a chain of events can be followed
from the request that started it through every handler it caused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from project.messaging.contract.events import Envelope

_handling: ContextVar[Envelope | None] = ContextVar("messaging_handling", default=None)
_correlation_id: ContextVar[uuid.UUID | None] = ContextVar("messaging_correlation_id", default=None)
# The trace context the chain named by _correlation_id started under (its first event's).
_origin_trace: ContextVar[dict[str, str] | None] = ContextVar("messaging_origin_trace", default=None)


def current_envelope() -> Envelope | None:
    """The envelope of the message the current handler is processing, if any."""
    return _handling.get()


def current_correlation_id() -> uuid.UUID | None:
    handling = _handling.get()
    if handling is not None:
        return handling.correlation_id
    return _correlation_id.get()


@contextmanager
def handling(envelope: Envelope) -> Iterator[None]:
    token = _handling.set(envelope)
    try:
        yield
    finally:
        _handling.reset(token)


def current_origin_trace() -> dict[str, str] | None:
    """Outside a handler: the trace context of the chain ``correlation()`` continues, if given."""
    return _origin_trace.get() if _handling.get() is None else None


@contextmanager
def correlation(correlation_id: uuid.UUID, *, trace_context: dict[str, str] | None = None) -> Iterator[None]:
    """Publish under ``correlation_id``. ``trace_context``: the trace that chain started in (its
    first event's), which what is published now links to (e.g. the beat expiring an order)."""
    token = _correlation_id.set(correlation_id)
    origin = _origin_trace.set(trace_context)
    try:
        yield
    finally:
        _origin_trace.reset(origin)
        _correlation_id.reset(token)
