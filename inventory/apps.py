from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.routing import subscribe

        from inventory import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
