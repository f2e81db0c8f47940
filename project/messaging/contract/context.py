"""What the current thread of work is about: the message being handled, or the HTTP request.

publish() reads it to fill correlation and causation ids, so a chain of events can be followed
from the request that started it through every handler it caused, and to give what a handler
publishes an id derived from the message it handles (``caused_event_id``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from project.messaging.contract.events import Envelope


@dataclass
class _Handling:
    envelope: Envelope
    handler: str  # the subscription's handler name ("inventory.reserve_order_line"); "" if unknown
    # How many messages of each (type, aggregate) this handling published so far.
    published: Counter[tuple[str, str, str]] = field(default_factory=Counter)


_handling_state: ContextVar[_Handling | None] = ContextVar("messaging_handling", default=None)
_correlation_id: ContextVar[uuid.UUID | None] = ContextVar("messaging_correlation_id", default=None)
# The trace context the chain named by _correlation_id started under (its first event's).
_origin_trace: ContextVar[dict[str, str] | None] = ContextVar("messaging_origin_trace", default=None)


def current_envelope() -> Envelope | None:
    """The envelope of the message the current handler is processing, if any."""
    state = _handling_state.get()
    return state.envelope if state is not None else None


def current_correlation_id() -> uuid.UUID | None:
    state = _handling_state.get()
    if state is not None:
        return state.envelope.correlation_id
    return _correlation_id.get()


@contextmanager
def handling(envelope: Envelope, *, handler: str = "") -> Iterator[None]:
    """Handler ``handler`` is applying ``envelope``: one attempt (a retry or a replay enters anew)."""
    token = _handling_state.set(_Handling(envelope=envelope, handler=handler))
    try:
        yield
    finally:
        _handling_state.reset(token)


def caused_event_id(event_type: str, aggregate_type: str, aggregate_id: str) -> uuid.UUID | None:
    """The id of a message published now by the current handler, or None outside a handler.

    uuid5 of the handled event's id and "<handler>:<type>:<aggregate type>:<aggregate id>:<n>",
    n counting this attempt's publishes of that type about that aggregate. Applying the same
    event again (a retry, a replay, a redelivery to a database restored from a backup) publishes
    the same ids, so downstream inboxes drop what they already applied. A different decision
    (another type), or a message about another aggregate (one more recipient in a list), gets an
    id of its own: never an old id hiding a new fact. Each attempt counts from zero: an earlier
    attempt's publishes rolled back with it.
    """
    state = _handling_state.get()
    if state is None:
        return None
    key = (event_type, aggregate_type, aggregate_id)
    n = state.published[key]
    state.published[key] += 1
    return uuid.uuid5(state.envelope.event_id, f"{state.handler}:{event_type}:{aggregate_type}:{aggregate_id}:{n}")


def current_origin_trace() -> dict[str, str] | None:
    """Outside a handler: the trace context of the chain ``correlation()`` continues, if given."""
    return _origin_trace.get() if _handling_state.get() is None else None


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
