"""Deployment checks of the observability endpoints (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.METRICS_TOKEN:
        return []
    return [
        checks.Warning(
            "METRICS_TOKEN is not set: /metrics answers anyone who can reach the web process (queue "
            "lengths, backlogs, dead letters per handler, traffic).",
            hint="Set METRICS_TOKEN and scrape with 'Authorization: Bearer <token>'; or, if a proxy "
            "already keeps /metrics private, add observability.W001 to SILENCED_SYSTEM_CHECKS.",
            id="observability.W001",
        )
    ]
