from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Cross-domain operator tooling (the consistency check). Owns no table and publishes nothing."""

    name = "project.operations"
    label = "operations"
    verbose_name = "Operations (cross-domain reconciliation)"
    default_auto_field = "django.db.models.BigAutoField"
