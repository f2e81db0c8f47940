from __future__ import annotations

from rest_framework import mixins, viewsets
from rest_framework.pagination import PageNumberPagination

from notifications import selectors
from notifications.api.serializers import NotificationSerializer


class NotificationPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What was sent (or suppressed, or failed) to whom. Users see their own; staff with
    notifications.view_notification see all."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    filterset_fields = ["kind", "status", "user_id"]

    def get_queryset(self):
        return selectors.notification_list_for(self.request.user)
