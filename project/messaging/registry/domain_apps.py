"""The AppConfig every domain app derives from: it registers the app with the messaging layer.

At start-up (``ready()``) it subscribes the handlers the app's ``handlers.py`` lists in its
literal ``SUBSCRIPTIONS`` map, then registers the projections the app declares (the local
tables its handlers build from other apps' events, which ``replay_events --from-scratch`` can
rebuild).
"""

from __future__ import annotations

from importlib import import_module
from typing import ClassVar, TypedDict

from django.apps import AppConfig
from django.utils.module_loading import import_string

from project.messaging.registry.projections import register_projection
from project.messaging.registry.routing import subscribe
from project.messaging.registry.series import prefill_metrics


class DeclaredProjection(TypedDict):
    """A projection of the app: the handlers (names in its handlers.py) that build one table, and
    the callable that empties it (dotted path inside the app, e.g. ``"services.recipients_reset"``)."""

    handlers: list[str]
    reset: str


class DomainAppConfig(AppConfig):
    # Never picked by Django itself: an apps.py that imports this base holds two AppConfig
    # classes, and Django chooses the one whose ``default`` is true (each subclass, below).
    default = False
    default_auto_field = "django.db.models.BigAutoField"
    projections: ClassVar[dict[str, DeclaredProjection]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.default = cls.__dict__.get("default", True)

    def ready(self) -> None:
        # The handlers module is found by name, as Django finds an app's models and admin: the
        # messaging layer never imports a domain app's code.
        handlers = import_module(f"{self.name}.handlers")
        subscribe(self.label, handlers.SUBSCRIPTIONS)
        prefill_metrics()  # this app's handlers and every message type imported so far, at 0
        for name, declared in self.projections.items():
            register_projection(
                self.label,
                name,
                handlers=[getattr(handlers, handler) for handler in declared["handlers"]],
                reset=import_string(f"{self.name}.{declared['reset']}"),
            )
