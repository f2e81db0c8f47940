from django.apps import AppConfig
from django.conf import settings


class MessagingConfig(AppConfig):
    name = "project.messaging"
    label = "messaging"
    verbose_name = "Messaging (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging import checks  # noqa: F401  (registers the system checks)
        from project.messaging.tasks import register_delivery_tasks
        from project.observability import checks as observability_checks  # noqa: F401  (no AppConfig of its own)

        register_delivery_tasks([q for q in settings.MESSAGING_QUEUES if q != "messaging"])
