"""Messages (domain events and saga commands), their registry, upcasters and the envelope.

A producer declares its messages in its own ``events.py``::

    @message_type("orders.OrderPlaced", version=1, aggregate="order", aggregate_id="order_id")
    class OrderPlaced(Event):
        order_id: UUID
        customer_id: int

Messages are frozen pydantic models holding JSON types only (decimals and datetimes travel as
strings). Consumers ignore fields they do not know, so adding an optional field is compatible;
a breaking change is a new version plus an ``@upcaster`` from the previous one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from project.messaging.contract.errors import (
    EventDefinitionError,
    InvalidPayload,
    UnknownEventType,
    UnsupportedSchemaVersion,
)

Payload = dict[str, Any]
M = TypeVar("M", bound=type["Message"])


class Message(BaseModel):
    """Base of everything that travels through the outbox. Subclass Event or Command."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 0
    aggregate_type: ClassVar[str] = ""
    aggregate_id_field: ClassVar[str] = ""
    # The app whose outbox (and database) carries it, when that is not the type name's app: a
    # command is named by the participant that carries it out and sent by its orchestrator.
    sender: ClassVar[str] = ""

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_id_field))

    def payload(self) -> Payload:
        return self.model_dump(mode="json")

    @classmethod
    def producer(cls) -> str:
        return cls.sender or cls.event_type.split(".", 1)[0]


class Event(Message):
    """A fact that happened, named in the past tense (OrderPlaced)."""


class Command(Message):
    """A request a process manager sends to one other domain, named imperatively (ReserveStock)."""


# type name -> message class (its current version)
_registry: dict[str, type[Message]] = {}
# (type name, from version) -> function turning that payload into the next version's
_upcasters: dict[tuple[str, int], Callable[[Payload], Payload]] = {}
# former type name -> current type name (a message that moved to another owner)
_aliases: dict[str, str] = {}


def message_type(
    type_name: str,
    *,
    version: int,
    aggregate: str,
    aggregate_id: str,
    sender: str = "",
    formerly: tuple[str, ...] = (),
) -> Callable[[M], M]:
    """Give a message class its stable type name and schema version, and register it.

    ``sender``: the app that publishes it, if not the type name's (see Message.sender).
    ``formerly``: type names it was published under before; envelopes written with one (still in
    an outbox, a delivery, a dead letter) decode to this class.
    """
    if "." not in type_name:
        raise EventDefinitionError(f"{type_name!r}: type names look like '<app>.<EventName>'.")
    if not isinstance(version, int) or version < 1:
        raise EventDefinitionError(f"{type_name}: version must be an integer >= 1.")
    for old in formerly:
        if old in _registry or _aliases.get(old, type_name) != type_name:
            raise EventDefinitionError(f"{type_name}: {old} already names another message type.")

    def register(cls: M) -> M:
        if aggregate_id not in cls.model_fields:
            raise EventDefinitionError(f"{type_name}: aggregate_id {aggregate_id!r} is not a field of {cls.__name__}.")
        known = _registry.get(type_name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise EventDefinitionError(f"{type_name} is already registered by {known.__module__}.{known.__qualname__}.")
        cls.event_type = type_name
        cls.schema_version = version
        cls.aggregate_type = aggregate
        cls.aggregate_id_field = aggregate_id
        cls.sender = sender
        _registry[type_name] = cls
        _aliases.update(dict.fromkeys(formerly, type_name))
        return cls

    return register


def upcaster(type_name: str, *, from_version: int) -> Callable[[Callable[[Payload], Payload]], Callable]:
    """Register a function that turns a payload of ``from_version`` into ``from_version + 1``."""

    def register(fn: Callable[[Payload], Payload]) -> Callable[[Payload], Payload]:
        _upcasters[(type_name, from_version)] = fn
        return fn

    return register


def registered_types() -> dict[str, type[Message]]:
    return dict(_registry)


def current_type_name(type_name: str) -> str:
    """The name a message is published under now (``type_name`` itself unless it was renamed)."""
    return _aliases.get(type_name, type_name)


def message_class(type_name: str) -> type[Message]:
    try:
        return _registry[current_type_name(type_name)]
    except KeyError:
        raise UnknownEventType(f"Unknown event type {type_name!r}.") from None


def upcast(type_name: str, version: int, payload: Payload) -> Payload:
    """Bring a payload of an older schema version up to the current one, step by step."""
    type_name = current_type_name(type_name)
    current = message_class(type_name).schema_version
    if version > current:
        raise UnsupportedSchemaVersion(f"{type_name} v{version} is newer than this code understands (v{current}).")
    while version < current:
        step = _upcasters.get((type_name, version))
        if step is None:
            raise UnsupportedSchemaVersion(
                f"{type_name} v{version} has no upcaster to v{version + 1} (current v{current})."
            )
        payload = step(payload)
        version += 1
    return payload


class Envelope(BaseModel):
    """What travels on the wire: the message's payload plus who, what, when and why."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: datetime
    producer: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int | None = None
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    payload: Payload
    # The W3C trace context ("traceparent", "tracestate") of the span that published it, when
    # tracing is on (contract/tracing.py). Optional: envelopes written without it still decode,
    # and code that predates it ignores it.
    trace_context: dict[str, str] | None = None

    def to_json(self) -> Payload:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Any) -> Envelope:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayload(f"Malformed envelope: {_summarise(exc)}") from exc


def decode(envelope: Envelope) -> Message:
    """Turn an envelope back into its typed message: upcast, then validate the payload."""
    cls = message_class(envelope.event_type)
    payload = upcast(envelope.event_type, envelope.schema_version, dict(envelope.payload))
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayload(f"{envelope.event_type}: {_summarise(exc)}") from exc


def _summarise(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())
