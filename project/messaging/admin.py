"""Django's admin autodiscovery imports ``<app>.admin``: the messaging admin is an operations module."""

from project.messaging.operations import admin  # noqa: F401  (registers the ModelAdmins)
