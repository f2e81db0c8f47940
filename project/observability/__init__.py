"""Metrics, health checks and structured logging for operators (not a Django app)."""
