from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from articles import handlers
        from project.messaging.routing import subscribe

        subscribe(self.label, handlers.SUBSCRIPTIONS)
