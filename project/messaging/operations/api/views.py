from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.messaging.operations import selectors
from project.messaging.operations.api.serializers import CorrelationTimelineSerializer
from project.messaging.operations.permissions import timeline_for


class CorrelationTimelineView(APIView):
    """Staff only: everything published, delivered, applied and dead-lettered under one correlation id
    (the dead letters only with messaging.view_deadletter)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: CorrelationTimelineSerializer})
    def get(self, request: Request, correlation_id: UUID) -> Response:
        entries = selectors.correlation_timeline(correlation_id)
        if not entries:
            raise NotFound(f"Nothing is recorded under correlation id {correlation_id}.")
        entries = timeline_for(request.user, entries)
        return Response(CorrelationTimelineSerializer({"correlation_id": correlation_id, "entries": entries}).data)
