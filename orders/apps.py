from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.routing import subscribe

        from orders import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
