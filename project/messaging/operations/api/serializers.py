from __future__ import annotations

from rest_framework import serializers


class TimelineEntrySerializer(serializers.Serializer):
    """One row of a timeline (project.messaging.operations.selectors.TimelineEntry)."""

    at = serializers.DateTimeField()
    kind = serializers.CharField()
    summary = serializers.CharField()
    event_id = serializers.UUIDField(allow_null=True)
    event_type = serializers.CharField()
    source = serializers.CharField(
        help_text="Producer of an event; handler of a delivery, inbox record or dead letter."
    )
    status = serializers.CharField()
    detail = serializers.CharField()
    attempts = serializers.IntegerField(allow_null=True, help_text="Send count, failed attempts or step attempts.")
    replays = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True, help_text="e.g. processed_at - occurred_at.")
    correlation_id = serializers.UUIDField(allow_null=True)
    causation_id = serializers.UUIDField(allow_null=True)
    consumers = serializers.ListField(child=serializers.CharField())
    times = serializers.DictField(child=serializers.DateTimeField(allow_null=True))
    ref = serializers.CharField()
    trace_id = serializers.CharField(
        help_text="The trace (32 hex digits) the event was published in, for the tracing backend; empty if not traced."
    )


class CorrelationTimelineSerializer(serializers.Serializer):
    correlation_id = serializers.UUIDField()
    entries = TimelineEntrySerializer(many=True)
