from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import handlers
        from project.messaging.routing import subscribe

        subscribe(self.label, handlers.SUBSCRIPTIONS)
