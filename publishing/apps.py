from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.routing import subscribe
        from publishing import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
