from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import handlers, services
        from project.messaging.projections import register_projection
        from project.messaging.routing import subscribe

        subscribe(self.label, handlers.SUBSCRIPTIONS)
        # The Recipient copy can be rebuilt from the users events: replay_events --from-scratch.
        register_projection(
            self.label,
            "recipients",
            handlers=[
                handlers.add_recipient_when_user_registered,
                handlers.update_recipient_preferences,
                handlers.update_recipient_email,
                handlers.update_recipient_display_name,
            ],
            reset=services.recipients_reset,
        )
