"""Distributed tracing: OpenTelemetry's SDK and instrumentations, set up from the OTEL_* variables.

Off by default. Only when ``OTEL_TRACES_EXPORTER`` names an exporter (``console``, ``otlp``...;
unset or ``none`` means off, as does ``OTEL_SDK_DISABLED=true``) does ``setup_tracing`` install
a tracer provider and instrument Django, Celery, psycopg, sqlite3 and redis; otherwise it imports
nothing of the SDK and changes nothing, and the messaging layer, which asks the OpenTelemetry API
whether a provider is installed (project.messaging.contract.tracing), creates no span either.

Each process sets itself up once (the call is idempotent): the web process in project/wsgi.py
and asgi.py, management commands (the relay) in manage.py, a Celery worker in each pool process
after the fork (worker_process_init: the SDK's export thread and connections are per process),
beat at its start (project/celery.py).

Everything else is OpenTelemetry's standard configuration: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and
the other OTEL_EXPORTER_OTLP_* variables), ``OTEL_SERVICE_NAME`` (default: ``shop-<process>``,
e.g. ``shop-web``, ``shop-worker-orders``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``
and ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_BSP_*``. One addition of ours:
``TRACING_CONSOLE_FILE``: the console exporter writes there, one JSON object per span per
line, instead of pretty-printing to stdout (the flow tests read each process's file).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from project.messaging.contract.tracing import set_tracing_on

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

_provider: TracerProvider | None = None


def tracing_configured(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment turns tracing on: an exporter is named and the SDK not disabled."""
    env = os.environ if environ is None else environ
    exporters = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return (
        any(name not in ("", "none") for name in exporters)
        and env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"
    )


def setup_tracing(process: str) -> bool:
    """Install the tracer provider and the instrumentations for this process, if configured.

    ``process`` names the process in the default service name (``shop-<process>``). Returns
    whether tracing is on. Call it before Django loads its middleware (wsgi.py does).
    """
    global _provider
    if _provider is not None:
        return True
    if not tracing_configured():
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

    from project.observability.sampling import DropOrphanClientSpans

    service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or f"shop-{process}"
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service, "shop.process": process}),
        sampler=DropOrphanClientSpans(_get_from_env_or_default()),
    )
    for exporter in _exporters():
        if isinstance(exporter, ConsoleSpanExporter):
            # Written at once, span by span: what `make run` shows is what just happened.
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    set_tracing_on(True)
    _instrument()
    _provider = provider
    logger.info("Tracing on: service %s, exporters %s", service, os.environ.get("OTEL_TRACES_EXPORTER"))
    return True


def flush_tracing(timeout_millis: int = 5000) -> None:
    """Export what is buffered (a worker process about to exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def _exporters() -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names, found as the SDK finds them (entry points)."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    found: list[SpanExporter] = []
    for name in (n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")):
        if name in ("", "none"):
            continue
        if name == "console":
            found.append(_console_exporter(ConsoleSpanExporter))
            continue
        if name == "otlp":
            # As OpenTelemetry's SDK configuration does: the protocol picks the exporter. Its
            # default here is http/protobuf (the specification's; the gRPC exporter is not installed).
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            )
            name = "otlp_proto_grpc" if protocol.strip().lower() == "grpc" else "otlp_proto_http"
        points = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not points:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER={name!r}: no such span exporter is installed.")
        found.append(next(iter(points)).load()())
    return found


def _console_exporter(console: type[SpanExporter]) -> SpanExporter:
    path = os.environ.get("TRACING_CONSOLE_FILE", "").strip()
    if not path:
        # The process's real standard output: in a Celery worker sys.stdout is redirected to the
        # logger, which would wrap every line of every span in a log line of its own.
        return console(out=sys.__stdout__ or sys.stdout)
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open for the process's life)
    return console(out=out, formatter=lambda span: span.to_json(indent=None) + os.linesep)


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    # OpenTelemetry's own variable (as `opentelemetry-instrument` reads it): e.g. "sqlite3,psycopg"
    # keeps a span per SQL statement out, which is most of what tracing costs (performance.md).
    disabled = {name.strip().lower() for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    instrumentors = {
        "django": (DjangoInstrumentor, {}),
        "celery": (CeleryInstrumentor, {}),
        "psycopg": (PsycopgInstrumentor, {"enable_commenter": False}),
        "sqlite3": (SQLite3Instrumentor, {}),
        "redis": (RedisInstrumentor, {}),
    }
    for name, (instrumentor, options) in instrumentors.items():
        if name not in disabled:
            instrumentor().instrument(**options)


def uninstrument_for_tests() -> None:
    """Undo setup_tracing (tests only): the instrumentations and the global tracer provider."""
    global _provider
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.util._once import Once

    for instrumentor in (
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        PsycopgInstrumentor(),
        SQLite3Instrumentor(),
        RedisInstrumentor(),
    ):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    if _provider is not None:
        _provider.shutdown()
    _provider = None
    # OpenTelemetry sets the global provider once per process; its own test utilities reset it so.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    set_tracing_on(False)


__all__ = ["flush_tracing", "setup_tracing", "tracing_configured"]
