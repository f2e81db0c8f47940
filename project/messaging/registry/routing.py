"""Who receives what: each consumer app's SUBSCRIPTIONS map, registered and validated at start-up.

A consumer app ends its ``handlers.py`` with a literal map, which its AppConfig, a
``DomainAppConfig`` (registry.domain_apps), registers with ``subscribe()`` at start-up::

    SUBSCRIPTIONS = {OrderPlaced: [reserve_stock_for_order]}

    class InventoryConfig(DomainAppConfig):
        name = "inventory"

Every (event, handler) pair becomes its own Celery message on the consumer app's queue (named
after the app), so a slow or failing consumer never holds back another.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings

from project.messaging.contract.errors import SubscriptionError, UnknownHandler
from project.messaging.contract.events import Message, registered_types

Handler = Callable[[Message], None]


@dataclass(frozen=True)
class Subscription:
    event_type: str
    handler_name: str
    handler: Handler
    app_label: str
    queue: str


_by_event: dict[str, list[Subscription]] = {}
_by_handler: dict[str, Handler] = {}


def subscribe(app_label: str, subscriptions: Mapping[type[Message], Iterable[Handler]]) -> None:
    """Register an app's SUBSCRIPTIONS. Raises SubscriptionError naming the first problem."""
    queue = app_label
    if queue not in settings.MESSAGING_QUEUES:
        raise SubscriptionError(
            f"{app_label}.handlers.SUBSCRIPTIONS: no worker route serves queue {queue!r}; "
            f"add it to MESSAGING_QUEUES (known: {', '.join(settings.MESSAGING_QUEUES)})."
        )
    if not isinstance(subscriptions, Mapping):
        raise SubscriptionError(f"{app_label}.handlers.SUBSCRIPTIONS must be a dict.")
    known = registered_types()
    new: list[Subscription] = []
    names: dict[str, Handler] = dict(_by_handler)
    for event_class, handlers in subscriptions.items():
        if not (isinstance(event_class, type) and issubclass(event_class, Message)):
            raise SubscriptionError(f"{app_label}.handlers.SUBSCRIPTIONS: key {event_class!r} is not a message class.")
        type_name = event_class.event_type
        if not type_name or known.get(type_name) is not event_class:
            raise SubscriptionError(
                f"{app_label}.handlers.SUBSCRIPTIONS: {event_class.__qualname__} is not a registered "
                "event (decorate it with @message_type in its producer's events.py)."
            )
        if isinstance(handlers, str | bytes) or not isinstance(handlers, Iterable):
            raise SubscriptionError(
                f"{app_label}.handlers.SUBSCRIPTIONS[{event_class.__qualname__}] must be a list of handlers."
            )
        seen_for_event: set[str] = set()
        for handler in handlers:
            name = _handler_name(app_label, handler, event_class)
            if name in seen_for_event or any(
                s.handler_name == name and s.event_type == type_name for s in _by_event.get(type_name, [])
            ):
                raise SubscriptionError(
                    f"{app_label}.handlers.SUBSCRIPTIONS: handler {name} is listed twice for {type_name}."
                )
            other = names.get(name)
            if other is not None and other is not handler:
                raise SubscriptionError(
                    f"{app_label}.handlers.SUBSCRIPTIONS: duplicate handler name {name}: two different "
                    "functions share it, so the inbox could not tell them apart."
                )
            seen_for_event.add(name)
            names[name] = handler
            new.append(Subscription(type_name, name, handler, app_label, queue))
    for sub in new:
        _by_event.setdefault(sub.event_type, []).append(sub)
        _by_handler[sub.handler_name] = sub.handler


def _handler_name(app_label: str, handler: object, event_class: type[Message]) -> str:
    if not callable(handler) or not hasattr(handler, "__name__"):
        raise SubscriptionError(
            f"{app_label}.handlers.SUBSCRIPTIONS[{event_class.__qualname__}]: {handler!r} is not a function."
        )
    try:
        inspect.signature(handler).bind(object())
    except TypeError:
        raise SubscriptionError(
            f"{app_label}.handlers.SUBSCRIPTIONS: handler {handler.__name__} must take exactly one argument, the event."
        ) from None
    if handler.__name__ == "<lambda>":
        raise SubscriptionError(
            f"{app_label}.handlers.SUBSCRIPTIONS: a lambda has no stable name; use a named function."
        )
    return f"{app_label}.{handler.__name__}"


def subscriptions_for(event_type: str) -> list[Subscription]:
    return list(_by_event.get(event_type, ()))


def all_subscriptions() -> list[Subscription]:
    return [sub for subs in _by_event.values() for sub in subs]


def subscription(handler_name: str, event_type: str) -> Subscription:
    for sub in _by_event.get(event_type, ()):
        if sub.handler_name == handler_name:
            return sub
    raise UnknownHandler(f"No handler {handler_name!r} is subscribed to {event_type}.")


def reset_for_tests(snapshot: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
    """Swap the registry (tests that register bad maps must not leave them behind)."""
    global _by_event, _by_handler
    previous = (_by_event, _by_handler)
    _by_event, _by_handler = snapshot if snapshot is not None else ({}, {})
    return previous
