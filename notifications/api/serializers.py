from __future__ import annotations

from rest_framework import serializers

from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "user_id",
            "kind",
            "channel",
            "status",
            "reason",
            "subject",
            "to_email",
            "reference",
            "event_id",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields
