from __future__ import annotations

from django.apps import AppConfig

from project.observability import checks  # noqa: F401  (registers the deployment checks)


class ObservabilityConfig(AppConfig):
    """/metrics, /health/ and structured logging. Owns no table; registers its deployment checks."""

    name = "project.observability"
    label = "observability"
    verbose_name = "Observability (metrics, health, logging)"
