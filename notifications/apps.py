from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.routing import subscribe

        from notifications import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
