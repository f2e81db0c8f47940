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


@contextmanager
def correlation(correlation_id: uuid.UUID) -> Iterator[None]:
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)
