"""The messaging layer's public API: what a domain app may use of it, all of it, in one place.

A domain app imports only this package (``from project.messaging import Event, publish``),
never one of its modules (``lint-imports``: domain apps use the messaging layer's public API):

- declaring messages: ``Event``, ``Command``, ``message_type``, and the ``Envelope`` they travel in;
- publishing them in the service's transaction: ``publish``, ``publish_many``, and the database
  that transaction runs on: ``database_for(app_label)`` (``transaction.atomic(using=...)``);
- handling them: ``DomainAppConfig`` (subscribes the app's ``handlers.SUBSCRIPTIONS``),
  ``current_envelope``, the errors a handler raises (``PermanentError``, ``RetryableError``);
- the correlation of what one request or chain publishes: ``correlation``, ``current_correlation_id``,
  and where an aggregate's chain started (its correlation id and trace context), to continue it
  later: ``first_event_origin``;
- an aggregate's messaging timeline, for the app's own admin and API: ``aggregate_timeline``,
  ``first_correlation_id``, ``TimelineEntry``, ``merge_timelines``, ``timeline_for`` (what a user
  may read of it), ``render_timeline`` (admin) and ``TimelineEntrySerializer`` (API).

Django imports this package to find the messaging app before any model can be loaded, so what
reads or writes the messaging tables (the outbox and the timeline) is imported on first use
(PEP 562's module ``__getattr__``). The imports under TYPE_CHECKING name the same modules, so
type checkers and the import graph (lint-imports, bin/import_cycles.py) see every dependency.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from project.messaging.contract.context import correlation, current_correlation_id, current_envelope
from project.messaging.contract.errors import PermanentError, RetryableError
from project.messaging.contract.events import Command, Envelope, Event, message_type
from project.messaging.registry.databases import database_for
from project.messaging.registry.domain_apps import DomainAppConfig

if TYPE_CHECKING:
    from project.messaging.operations.admin import render_timeline
    from project.messaging.operations.api.serializers import TimelineEntrySerializer
    from project.messaging.operations.permissions import timeline_for
    from project.messaging.operations.selectors import (
        TimelineEntry,
        aggregate_timeline,
        first_correlation_id,
        first_event_origin,
        merge_timelines,
    )
    from project.messaging.outbox.publish import publish, publish_many

_LOADED_ON_FIRST_USE = {
    "publish": "project.messaging.outbox.publish",
    "publish_many": "project.messaging.outbox.publish",
    "TimelineEntry": "project.messaging.operations.selectors",
    "aggregate_timeline": "project.messaging.operations.selectors",
    "first_correlation_id": "project.messaging.operations.selectors",
    "first_event_origin": "project.messaging.operations.selectors",
    "merge_timelines": "project.messaging.operations.selectors",
    "timeline_for": "project.messaging.operations.permissions",
    "render_timeline": "project.messaging.operations.admin",
    "TimelineEntrySerializer": "project.messaging.operations.api.serializers",
}

__all__ = [
    "Command",
    "DomainAppConfig",
    "Envelope",
    "Event",
    "PermanentError",
    "RetryableError",
    "TimelineEntry",
    "TimelineEntrySerializer",
    "aggregate_timeline",
    "correlation",
    "current_correlation_id",
    "current_envelope",
    "database_for",
    "first_correlation_id",
    "first_event_origin",
    "merge_timelines",
    "message_type",
    "publish",
    "publish_many",
    "render_timeline",
    "timeline_for",
]


def __getattr__(name: str) -> Any:
    module = _LOADED_ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups find it without coming here
    return value
