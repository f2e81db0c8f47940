"""Projections a consumer app can rebuild from the event log (``manage.py replay_events --from-scratch``).

A projection is a local table built only from events by some of an app's handlers. The app
declares it on its ``DomainAppConfig``, which registers it after the SUBSCRIPTIONS, with the
handlers that build it and a ``reset`` callable that empties it::

    class NotificationsConfig(DomainAppConfig):
        name = "notifications"
        projections = {
            "recipients": {
                "handlers": ["add_recipient_when_user_registered", "update_recipient_email", ...],
                "reset": "services.recipients_reset",
            }
        }

A rebuild runs ``reset`` and deletes those handlers' inbox records, then replays their events in
``occurred_at`` order on the app's database, in batches, each its own transaction, with a
checkpoint (``ProjectionRebuild``) that says whether the rebuild finished: an interrupted one is
resumed by running it again (project.messaging.operations.services._rebuild). Every handler of a
projection is replayed together: resetting the table while replaying only one of its handlers
would lose what the others built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from project.messaging.contract.errors import SubscriptionError
from project.messaging.registry.routing import Handler, all_subscriptions


@dataclass(frozen=True)
class Projection:
    app_label: str
    name: str  # "<app>.<name>", e.g. "notifications.recipients"
    handlers: tuple[str, ...]
    reset: Callable[[], object]


_projections: dict[str, Projection] = {}


def register_projection(
    app_label: str, name: str, *, handlers: Iterable[Handler], reset: Callable[[], object]
) -> Projection:
    """Declare that ``handlers`` of ``app_label`` build one table that ``reset`` empties."""
    full_name = f"{app_label}.{name}"
    subscribed = {sub.handler_name for sub in all_subscriptions() if sub.app_label == app_label}
    names = tuple(sorted({f"{app_label}.{getattr(h, '__name__', repr(h))}" for h in handlers}))
    if not names:
        raise SubscriptionError(f"Projection {full_name}: name the handlers that build it.")
    if missing := [n for n in names if n not in subscribed]:
        raise SubscriptionError(
            f"Projection {full_name}: {', '.join(missing)} is not subscribed; register SUBSCRIPTIONS first."
        )
    if not callable(reset):
        raise SubscriptionError(f"Projection {full_name}: reset must be callable.")
    for other in _projections.values():
        if other.name != full_name and set(other.handlers) & set(names):
            raise SubscriptionError(f"Projection {full_name} shares handlers with {other.name}.")
    projection = Projection(app_label=app_label, name=full_name, handlers=names, reset=reset)
    _projections[full_name] = projection
    return projection


def projection_named(name: str) -> Projection | None:
    return _projections.get(name)


def projection_of(handler_name: str) -> Projection | None:
    """The projection a handler builds, if it builds one."""
    return next((p for p in _projections.values() if handler_name in p.handlers), None)


def all_projections() -> list[Projection]:
    return sorted(_projections.values(), key=lambda p: p.name)
