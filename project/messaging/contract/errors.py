"""Errors of the messaging layer, and the two a handler may raise to steer delivery."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class MessagingError(Exception):
    """Base of the messaging layer's own errors."""


class NotInTransaction(MessagingError):
    """publish() was called outside a database transaction: the event could be lost or orphaned."""


class SubscriptionError(ImproperlyConfigured):
    """A SUBSCRIPTIONS map is wrong (unknown event, duplicate handler, missing queue...)."""


class EventDefinitionError(ImproperlyConfigured):
    """An event class lacks its type name or version, or clashes with another one."""


class PermanentError(MessagingError):
    """Retrying cannot help: the message goes to the dead-letter table at once.

    Raise it (or a subclass) from a handler for a domain rule the message violates.
    """


class RetryableError(MessagingError):
    """A transient fault: the delivery is retried with backoff, then dead-lettered."""


class UnknownEventType(PermanentError):
    """The envelope names an event type no producer registered."""


class UnsupportedSchemaVersion(PermanentError):
    """The envelope's schema version is newer than the code, or has no upcaster path."""


class InvalidPayload(PermanentError):
    """The payload does not validate against the event's schema."""


class UnknownHandler(PermanentError):
    """The message names a handler that is not subscribed (renamed or removed)."""
