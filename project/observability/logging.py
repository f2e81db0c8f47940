"""Logging configuration: stdlib logging rendered by structlog, with context on every line.

Every record, from our code or a library's, goes through structlog's ProcessorFormatter, which
merges the context variables bound for the current request (correlation_id) or delivery
(event_id, event_type, correlation_id, causation_id, handler, queue, attempt), and, when a
trace is being recorded (project.observability.tracing), its trace_id and span_id. LOG_FORMAT=json
gives one JSON object per line (production); the default is key=value lines (development).
"""

from __future__ import annotations

from typing import Any

import structlog
from opentelemetry import trace


def add_trace_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The current span's trace_id and span_id (hex, as a tracing backend shows them), if any."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(span_context.trace_id)
        event_dict["span_id"] = trace.format_span_id(span_context.span_id)
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    # No ExtraAdder: Celery passes each task's arguments as `extra`, and those are envelopes
    # (customers' emails among them) that have no business in the logs.
]


def logging_config(*, level: str = "INFO", fmt: str = "console") -> dict[str, Any]:
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info if fmt == "json" else (lambda _l, _m, e: e),
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Celery's own per-task lines repeat what our delivery log lines already say.
            "celery.app.trace": {"level": "INFO"},
        },
    }
