from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

from project.messaging.registry import checks  # noqa: F401  (registers the system checks)


class MessagingConfig(AppConfig):
    name = "project.messaging"
    label = "messaging"
    verbose_name = "Messaging (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the models are: the tasks read and write the messaging tables.
        from project.messaging.tasks import register_acknowledgement_tasks, register_delivery_tasks

        register_delivery_tasks([q for q in settings.MESSAGING_QUEUES if q != "messaging"])
        register_acknowledgement_tasks(list(settings.MESSAGING_QUEUES))
