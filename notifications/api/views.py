from __future__ import annotations

from rest_framework import mixins, viewsets

from notifications import selectors
from notifications.api.serializers import NotificationSerializer


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What was sent (or suppressed, or failed) to whom. Users see their own; staff see all."""

    serializer_class = NotificationSerializer
    filterset_fields = ["kind", "status", "user_id"]

    def get_queryset(self):
        return selectors.notification_list_for(self.request.user)
