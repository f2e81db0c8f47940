from django.apps import AppConfig


class TestappConfig(AppConfig):
    """A consumer app that exists only in tests, with handlers that misbehave on request."""

    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.messaging.registry.routing import subscribe
        from tests.testapp import handlers

        subscribe(self.label, handlers.SUBSCRIPTIONS)
