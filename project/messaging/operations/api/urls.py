from django.urls import path

from project.messaging.operations.api.views import CorrelationTimelineView

urlpatterns = [
    path(
        "messaging/correlations/<uuid:correlation_id>/timeline/",
        CorrelationTimelineView.as_view(),
        name="messaging-correlation-timeline",
    ),
]
