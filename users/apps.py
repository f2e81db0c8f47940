from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.routing import subscribe
        from users import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
