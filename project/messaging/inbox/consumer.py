"""The consuming side: apply one delivery exactly once, retry transient faults, park the rest.

The same code runs in Celery workers (project.messaging.tasks) and in the synchronous test bus.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import random
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from pydantic import ValidationError

from project.messaging import metrics
from project.messaging.contract import tracing
from project.messaging.contract.context import handling
from project.messaging.contract.delivery import DeliveryAttempt
from project.messaging.contract.errors import PermanentError
from project.messaging.contract.events import Envelope, decode
from project.messaging.models import Acknowledgement, DeadLetter, Delivery
from project.messaging.outbox import statements
from project.messaging.registry.databases import database_for, runs_here
from project.messaging.registry.routing import subscription

logger = logging.getLogger(__name__)

# Faults that may pass by themselves. Everything else (a payload that fails validation, an
# unknown event type or version, a domain rule, a bug) cannot be fixed by waiting: it is
# dead-lettered at once, for an operator to fix the cause and replay.
DEFAULT_TRANSIENT_ERRORS: tuple[str, ...] = (
    "project.messaging.RetryableError",  # the public name: stable wherever the class lives
    "django.db.OperationalError",  # database down, lock timeout, deadlock, "database is locked"
    "django.db.InterfaceError",  # connection closed under us
    "redis.exceptions.ConnectionError",
    "redis.exceptions.TimeoutError",
    "kombu.exceptions.OperationalError",  # broker unavailable while publishing
    "builtins.ConnectionError",
    "builtins.TimeoutError",
    "celery.exceptions.SoftTimeLimitExceeded",
    # Two deliveries racing to insert the same first row: the loser's retry re-reads and succeeds.
    # (The inbox's own unique key is handled separately: a duplicate is not a failure.)
    "django.db.IntegrityError",
)


class Outcome(enum.Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    RETRY = "retry"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    countdown: float = 0.0
    first_failed_at: str | None = None
    error: str = ""


def process(attempt: DeliveryAttempt) -> Result:
    """Apply one delivery: run its handler once, in one transaction with its inbox record."""
    started = time.perf_counter()
    with log_context(attempt):
        result = _traced_process(attempt) if tracing.tracing_on() else _process(attempt)
    metrics.DELIVERIES_HANDLED.labels(attempt.handler, result.outcome.value).inc()
    if result.outcome is Outcome.PROCESSED:
        metrics.HANDLER_SECONDS.labels(attempt.handler).observe(time.perf_counter() - started)
        occurred = attempt.envelope.get("occurred_at")
        if isinstance(occurred, str):
            lag = (timezone.now() - datetime.fromisoformat(occurred)).total_seconds()
            metrics.END_TO_END_SECONDS.labels(attempt.handler).observe(max(lag, 0.0))
    return result


def _traced_process(attempt: DeliveryAttempt) -> Result:
    """_process inside its ``process`` span, which says what came of it (a duplicate says so)."""
    with tracing.process_span(
        queue=attempt.handler.split(".", 1)[0],
        handler=attempt.handler,
        envelope=attempt.envelope if isinstance(attempt.envelope, dict) else {},
        redelivered=attempt.attempt > 1 or attempt.first_failed_at is not None or attempt.replay,
    ) as span:
        result = _process(attempt)
        tracing.record_outcome(
            span,
            result.outcome.value,
            duplicate=result.outcome is Outcome.DUPLICATE,
            failed=bool(result.error),
            error=result.error,
        )
    return result


def _process(attempt: DeliveryAttempt) -> Result:
    try:
        envelope = Envelope.from_json(attempt.envelope)
        message = decode(envelope)
        sub = subscription(attempt.handler, message.event_type)  # the current name, if it was renamed
    except Exception as exc:
        return _fail(attempt, exc, db=_db_of_handler(attempt.handler))

    db = database_for(sub.app_label)
    # How the producer learns the outcome (docs/messaging.md, "Acknowledgements"): its delivery row
    # is marked processed in the handler's own transaction when it lives in this database (one
    # commit, one round trip); otherwise an acknowledgement row commits with the handler's effects
    # here, and the relay sends it to the producer as a message.
    delivery_id = attempt.delivery_id
    acknowledge = _acknowledges(attempt, db)
    mark_inside = delivery_id is not None and not acknowledge
    acknowledge_to = (_producer_of(attempt), delivery_id) if acknowledge and delivery_id is not None else None
    inbox_written = False
    try:
        with transaction.atomic(using=db), handling(envelope, handler=sub.handler_name):
            # The unique (handler, event_id) constraint is the exactly-once guarantee: a
            # concurrent duplicate waits here for the first to commit, then fails the insert,
            # which rolls back this whole transaction (nothing else was done in it yet). The
            # delivery is marked processed, or acknowledged, with it (one round trip): it
            # commits only with the handler's effects.
            statements.insert_inbox_record(
                db,
                handler=sub.handler_name,
                event_id=envelope.event_id,
                event_type=envelope.event_type,
                at=timezone.now(),
                mark_processed=attempt.delivery_id if mark_inside else None,
                acknowledge_to=acknowledge_to,
            )
            inbox_written = True
            sub.handler(message)
            if attempt.first_failed_at is not None or attempt.replay:
                # A retry or a replay that succeeds closes the dead letter it may have left.
                _resolve_dead_letter(db, sub.handler_name, envelope.event_id)
    except IntegrityError as exc:
        if inbox_written:  # the handler's own insert: two deliveries racing (transient)
            return _fail(attempt, exc, db=db, envelope=envelope)
        logger.info("Duplicate of %s for %s acknowledged", envelope.event_id, sub.handler_name)
        # Another copy was applied; if one of its siblings was dead-lettered meanwhile, it is done.
        _resolve_dead_letter(db, sub.handler_name, envelope.event_id)
        # Acknowledged again: the producer may never have heard of the first copy (its
        # acknowledgement lost, which is why the sweep sent this one).
        _tell_producer(attempt, db, Delivery.Status.PROCESSED)
        return Result(Outcome.DUPLICATE)
    except Exception as exc:
        return _fail(attempt, exc, db=db, envelope=envelope)

    return Result(Outcome.PROCESSED)


def _resolve_dead_letter(db: str, handler: str, event_id: Any) -> None:
    DeadLetter.objects.using(db).filter(
        handler=handler,
        event_id=event_id,
        status__in=[DeadLetter.Status.DEAD, DeadLetter.Status.REPLAYING],
    ).update(status=DeadLetter.Status.RESOLVED, resolved_at=timezone.now())


@contextmanager
def log_context(attempt: DeliveryAttempt) -> Iterator[None]:
    """Every log line written while a delivery is handled names it (structlog context variables)."""
    raw = attempt.envelope if isinstance(attempt.envelope, dict) else {}
    with structlog.contextvars.bound_contextvars(
        event_id=raw.get("event_id"),
        event_type=raw.get("event_type"),
        correlation_id=raw.get("correlation_id"),
        causation_id=raw.get("causation_id"),
        handler=attempt.handler,
        queue=attempt.handler.split(".", 1)[0],
        attempt=attempt.attempt,
    ):
        yield


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PermanentError):
        return False
    names = getattr(settings, "MESSAGING_TRANSIENT_ERRORS", DEFAULT_TRANSIENT_ERRORS)
    return isinstance(exc, tuple(import_string(name) for name in names))


def retry_countdown(attempt: int) -> float:
    """Exponential backoff with full jitter, capped (keep it well under the visibility timeout)."""
    ceiling = min(settings.MESSAGING_RETRY_BACKOFF_MAX, settings.MESSAGING_RETRY_BACKOFF * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _fail(attempt: DeliveryAttempt, exc: Exception, *, db: str, envelope: Envelope | None = None) -> Result:
    now = timezone.now()
    first_failed_at = attempt.first_failed_at or now.isoformat()
    transient = is_transient(exc)
    if transient and attempt.attempt < settings.MESSAGING_MAX_ATTEMPTS:
        countdown = retry_countdown(attempt.attempt)
        metrics.DELIVERIES_RETRIED.labels(attempt.handler).inc()
        logger.warning(
            "Handler %s failed (attempt %d/%d), retrying in %.1fs: %r",
            attempt.handler,
            attempt.attempt,
            settings.MESSAGING_MAX_ATTEMPTS,
            countdown,
            exc,
        )
        return Result(Outcome.RETRY, countdown=countdown, first_failed_at=first_failed_at, error=repr(exc))
    logger.error("Dead-lettering %s for %s: %r", attempt.envelope.get("event_id"), attempt.handler, exc)
    metrics.DEAD_LETTERED.labels(attempt.handler, type(exc).__qualname__).inc()
    record_dead_letter(
        attempt,
        exc,
        db=db,
        envelope=envelope,
        permanent=not transient,
        first_failed_at=datetime.fromisoformat(first_failed_at),
        now=now,
    )
    if not _acknowledges(attempt, db):  # (otherwise acknowledged with the dead letter)
        _tell_producer(attempt, db, Delivery.Status.DEAD_LETTERED)
    return Result(Outcome.DEAD_LETTERED, first_failed_at=first_failed_at, error=repr(exc))


def record_dead_letter(
    attempt: DeliveryAttempt,
    exc: Exception,
    *,
    db: str,
    envelope: Envelope | None,
    permanent: bool,
    first_failed_at: datetime,
    now: datetime,
) -> DeadLetter:
    """Park a failed delivery. One row per (handler, event): a replay that fails again updates it."""
    raw = attempt.envelope if isinstance(attempt.envelope, dict) else {"raw": repr(attempt.envelope)}
    fields = {
        "queue": attempt.handler.split(".", 1)[0],
        "event_type": str(raw.get("event_type", ""))[:120],
        "correlation_id": envelope.correlation_id if envelope else None,
        "delivery_id": attempt.delivery_id,
        "envelope": raw,
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}"[:200],
        "error_message": str(exc) or repr(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "fingerprint": fingerprint(exc, handler=attempt.handler, event_type=str(raw.get("event_type", ""))),
        "permanent": permanent,
        "last_failed_at": now,
        "status": DeadLetter.Status.DEAD,
    }
    event_id = envelope.event_id if envelope else _event_id_or_none(raw)
    with transaction.atomic(using=db):
        letter, created = (
            DeadLetter.objects.using(db)
            .select_for_update()
            .get_or_create(
                handler=attempt.handler[:160],
                event_id=event_id,
                defaults={**fields, "attempts": attempt.attempt, "first_failed_at": first_failed_at},
            )
        )
        if not created:
            for name, value in fields.items():
                setattr(letter, name, value)
            letter.attempts += attempt.attempt
            letter.save()
        if _acknowledges(attempt, db):
            _acknowledge(attempt, db, Acknowledgement.Outcome.DEAD_LETTERED, at=now)
    return letter


def fingerprint(exc: BaseException, *, handler: str, event_type: str) -> str:
    """One cause of failure: the handler, the message type, the error type and why it failed.

    Letters that share it failed for one reason, so replaying their group after one fix is
    right for all of them; two handlers, or two message types, never share a group.
    """
    key = "|".join((handler, event_type, f"{type(exc).__module__}.{type(exc).__qualname__}", failure_cause(exc)))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def failure_cause(exc: BaseException) -> str:
    """Why it failed, without the particulars of one message.

    A payload that fails validation always fails in the decoder: its cause is the fields at fault
    and the kind of each error (``payload:quantity:greater_than``), not the values. Anything else:
    the innermost frame of project code outside the messaging layer (file, function, line).
    """
    validation = exc.__cause__
    if isinstance(validation, ValidationError):
        problems = sorted(
            {f"{'.'.join(str(part) for part in err['loc'])}:{err['type']}" for err in validation.errors()}
        )
        return "payload:" + ",".join(problems)
    return _innermost_project_frame(exc.__traceback__)


def _innermost_project_frame(tb: TracebackType | None) -> str:
    root = Path(settings.BASE_DIR).resolve()
    found = ""
    for frame, lineno in traceback.walk_tb(tb):
        path = Path(frame.f_code.co_filename).resolve()
        if not path.is_relative_to(root) or ".venv" in path.parts or "site-packages" in path.parts:
            continue
        if path.is_relative_to(root / "project" / "messaging"):
            continue
        found = f"{path.relative_to(root)}:{frame.f_code.co_name}:{lineno}"
    return found


def _event_id_or_none(raw: dict) -> Any:
    try:
        return uuid.UUID(str(raw.get("event_id")))
    except ValueError:
        # An envelope without a usable id still gets a row: a stable id derived from its content.
        return uuid.uuid5(uuid.NAMESPACE_URL, repr(sorted(raw.items(), key=str)))


def _db_of_handler(handler: str) -> str:
    return database_for(handler.split(".", 1)[0])


def _producer_of(attempt: DeliveryAttempt) -> str:
    """The app label of the producer, from the envelope ("" when the envelope does not say)."""
    producer = attempt.envelope.get("producer") if isinstance(attempt.envelope, dict) else None
    return producer if isinstance(producer, str) else ""


def _acknowledges(attempt: DeliveryAttempt, db: str) -> bool:
    """Whether the producer learns this delivery's outcome from an acknowledgement message: its
    deliveries are on another database than ``db``, the consumer's (the aliases differ, or this
    process does not run the producer's domain: settings.DOMAINS)."""
    if attempt.delivery_id is None:
        return False
    producer = _producer_of(attempt)
    return not (runs_here(producer) and database_for(producer) == db)


def _acknowledge(attempt: DeliveryAttempt, db: str, outcome: str, *, at: datetime) -> None:
    assert attempt.delivery_id is not None  # noqa: S101 (checked by _acknowledges)
    statements.insert_acknowledgement(
        db, producer=_producer_of(attempt), delivery_id=attempt.delivery_id, outcome=outcome, at=at
    )


def _tell_producer(attempt: DeliveryAttempt, db: str, status: str) -> None:
    """Outside the handler's transaction (a duplicate, a dead letter on one database): mark the
    producer's delivery row, or acknowledge. Best effort: the sweep re-sends if this fails, and the
    duplicate it causes tells the producer again."""
    if attempt.delivery_id is None:
        return
    try:
        if _acknowledges(attempt, db):
            _acknowledge(attempt, db, status, at=timezone.now())
        else:
            statements.mark_delivery(
                db,
                attempt.delivery_id,
                status,
                processed_at=timezone.now() if status == Delivery.Status.PROCESSED else None,
            )
    except (DatabaseError, InterfaceError, OperationalError):
        logger.warning("Could not tell the producer delivery %s is %s", attempt.delivery_id, status, exc_info=True)


__all__ = ["Outcome", "Result", "is_transient", "process", "retry_countdown"]
