from __future__ import annotations

from project.messaging import DomainAppConfig


class NotificationsConfig(DomainAppConfig):
    name = "notifications"
    # The Recipient copy can be rebuilt from the users events: replay_events --from-scratch.
    projections = {
        "recipients": {
            "handlers": [
                "add_recipient_when_user_registered",
                "update_recipient_preferences",
                "update_recipient_email",
                "update_recipient_display_name",
            ],
            "reset": "services.recipients_reset",
        }
    }
