"""Query filters that keep hostile values a 400 on every database.

``UtcIsoDateTimeFilter``: an ISO 8601 date-time converted to UTC before it reaches SQL. Python
accepts offsets up to ±23:59 (``0044-02-08T14:34:13-20:14``) but PostgreSQL refuses any beyond
±15:59 with an error, which was a 500; once in UTC no offset is left to refuse. A value that
leaves the calendar when converted (``0001-01-01T00:00:00+05:00``) is a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError("Out of range once converted to UTC.", code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
