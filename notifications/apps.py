from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import handlers
        from project.messaging.routing import subscribe

        subscribe(self.label, handlers.SUBSCRIPTIONS)
