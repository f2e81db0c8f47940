"""System checks run by `manage.py check` (and at start-up of every command and worker)."""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from project.messaging.contract.events import Command, Event, Message, registered_types
from project.messaging.registry.routing import all_subscriptions

_BASES = {Message, Event, Command}


def _all_message_classes() -> list[type[Message]]:
    """Message classes defined in installed apps (private ``_Names`` excepted)."""
    packages = tuple(config.name for config in apps.get_app_configs())
    found, stack = [], list(Message.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        in_app = any(cls.__module__ == p or cls.__module__.startswith(p + ".") for p in packages)
        if cls not in _BASES and in_app and not cls.__name__.startswith("_"):
            found.append(cls)
    return found


@checks.register("messaging")
def check_messages_registered(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = []
    registry = registered_types()
    for cls in _all_message_classes():
        if not cls.event_type or registry.get(cls.event_type) is not cls or not cls.schema_version:
            errors.append(
                checks.Error(
                    f"{cls.__module__}.{cls.__qualname__} has no registered type name and version.",
                    hint='Decorate it with @message_type("<app>.<Name>", version=1, ...).',
                    id="messaging.E001",
                )
            )
    return errors


@checks.register("messaging")
def check_handlers_subscribed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    warnings = []
    subscribed = {sub.handler for sub in all_subscriptions()}
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.handlers")
        except ModuleNotFoundError:
            continue
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") and fn not in subscribed:
                warnings.append(
                    checks.Warning(
                        f"{module.__name__}.{name} looks like a handler but is not in SUBSCRIPTIONS.",
                        hint="Add it to SUBSCRIPTIONS, or prefix it with _ if it is a helper.",
                        id="messaging.W001",
                    )
                )
    return warnings


@checks.register("messaging")
def check_queues_routed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = []
    declared = {q.name for q in settings.CELERY_TASK_QUEUES}
    routes = settings.CELERY_TASK_ROUTES
    for sub in all_subscriptions():
        route = routes.get(f"{sub.queue}.*", {})
        if sub.queue not in declared or route.get("queue") != sub.queue:
            errors.append(
                checks.Error(
                    f"{sub.handler_name} subscribes to {sub.event_type} on queue {sub.queue!r}, "
                    "which no worker route serves.",
                    hint="Declare the queue in CELERY_TASK_QUEUES and route '<queue>.*' to it.",
                    id="messaging.E002",
                )
            )
    return errors


@checks.register("messaging")
def check_unacknowledged_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The broker must not hand a message out again while its task may still run (or, where the
    worker holds a retry's countdown, wait): docs/messaging.md#brokers-redis-and-rabbitmq."""
    longest = settings.CELERY_TASK_TIME_LIMIT + settings.MESSAGING_RETRY_BACKOFF_MAX
    if settings.MESSAGING_BROKER == "rabbitmq":
        name, timeout = "RABBITMQ_CONSUMER_TIMEOUT", settings.RABBITMQ_CONSUMER_TIMEOUT
    else:
        name, timeout = "CELERY_VISIBILITY_TIMEOUT", settings.CELERY_VISIBILITY_TIMEOUT
    if timeout > longest:
        return []
    return [
        checks.Warning(
            f"{name} ({timeout:g}s) is not above the task time limit plus the longest retry countdown "
            f"({longest:g}s): a slow task or a waiting retry would be handed out again and run twice.",
            hint=f"Raise {name}, or lower CELERY_TASK_TIME_LIMIT / MESSAGING_RETRY_BACKOFF_MAX.",
            id="messaging.W002",
        )
    ]
