"""Where rows landed, with each domain on a database of its own: every domain model's and every
messaging model's rows counted on every database, each through that database's own connection.

A domain's rows belong in its database only (``database_for(label)``). Messaging rows belong
beside the rows they are about: an event and its deliveries in the producer's database, an inbox
record, a dead letter or an acknowledgement in the consumer's. ``misplaced_rows()`` lists every
row found anywhere else; ``assert_rows_only_in_their_database()`` fails on any."""

from __future__ import annotations

from functools import cache

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Count, Model

from project.messaging.models import Acknowledgement, DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.outbox.relay import send_acknowledgements
from project.messaging.registry.databases import database_for

MESSAGING_MODELS: list[type[Model]] = [OutboxEvent, Delivery, InboxRecord, DeadLetter, Acknowledgement]


def aliases() -> list[str]:
    """Every database of this run (the test-only "elsewhere" too: nothing of the domains belongs there)."""
    return list(settings.DATABASES)


def domain_models() -> list[type[Model]]:
    return [model for label in settings.DOMAIN_APPS for model in apps.get_app_config(label).get_models()]


@cache
def _tables(alias: str) -> frozenset[str]:
    # Read once per run: the test databases' tables are all made before the first test.
    return frozenset(connections[alias].introspection.table_names())


def _has_table(alias: str, model: type[Model]) -> bool:
    # A domain's tables exist in its own database only: no table there means no row there.
    return model._meta.db_table in _tables(alias)


def rows(model: type[Model], alias: str, **filters: object) -> int:
    """How many rows of ``model`` (matching ``filters``) the database ``alias`` holds."""
    if not _has_table(alias, model):
        return 0
    return model._default_manager.using(alias).filter(**filters).count()


def rows_per_database(model: type[Model], **filters: object) -> dict[str, int]:
    """The databases holding rows of ``model`` (matching ``filters``) and how many each; none: {}."""
    counts = {alias: rows(model, alias, **filters) for alias in aliases()}
    return {alias: n for alias, n in counts.items() if n}


def row_counts() -> dict[str, dict[str, int]]:
    """Every domain and messaging model ("app_label.Model") -> the databases holding its rows -> how many."""
    return {model._meta.label: rows_per_database(model) for model in [*domain_models(), *MESSAGING_MODELS]}


def assert_rows(model: type[Model], alias: str, expected: int, **filters: object) -> None:
    """Exactly ``expected`` rows of ``model`` (matching ``filters``) in ``alias``, and none anywhere else."""
    found = rows_per_database(model, **filters)
    wanted = {alias: expected} if expected else {}
    assert found == wanted, f"{model._meta.label} {filters or ''}: expected {wanted}, found {found}"


def assert_no_rows(model: type[Model], **filters: object) -> None:
    """No row of ``model`` (matching ``filters``) in any database."""
    found = rows_per_database(model, **filters)
    assert not found, f"{model._meta.label} {filters or ''}: expected none, found {found}"


def _misplaced_by(model: type[Model], field: str) -> list[str]:
    """Rows of a messaging model whose ``field`` names an app whose database is not where they are."""
    found = []
    for alias in aliases():
        if not _has_table(alias, model):
            continue
        for group in model._default_manager.using(alias).values(field).annotate(n=Count("pk")).order_by():
            app_label = str(group[field]).split(".")[0]  # a handler's name starts with its app's label
            if database_for(app_label) != alias:
                found.append(f"{group['n']} {model._meta.label} of {field}={group[field]} in {alias}")
    return found


def _misplaced_acknowledgements() -> list[str]:
    """An acknowledgement is written by the consumer, in the consumer's database, only when the
    producer's deliveries are in another: it must be in the database of the delivery's queue."""
    found = []
    for alias in aliases():
        if not _has_table(alias, Acknowledgement):
            continue
        for ack in Acknowledgement.objects.using(alias).order_by("id"):
            producer_db = database_for(ack.producer)
            delivery = Delivery.objects.using(producer_db).filter(pk=ack.delivery_id).first()
            consumer_db = database_for(delivery.queue) if delivery else None
            if producer_db == alias or consumer_db != alias:
                found.append(
                    f"acknowledgement {ack.pk} (producer {ack.producer}, delivery {ack.delivery_id} "
                    f"consumed on {consumer_db}) in {alias}"
                )
    return found


def misplaced_rows() -> list[str]:
    """Every row, of a domain model or a messaging model, outside the database it belongs in."""
    found = []
    for model in domain_models():
        home = database_for(model._meta.app_label)
        found += [
            f"{n} {model._meta.label} in {alias} (its database: {home})"
            for alias, n in rows_per_database(model).items()
            if alias != home
        ]
    found += _misplaced_by(OutboxEvent, "producer")
    found += _misplaced_by(Delivery, "event__producer")
    found += _misplaced_by(InboxRecord, "handler")
    found += _misplaced_by(DeadLetter, "queue")
    found += _misplaced_acknowledgements()
    return found


def assert_rows_only_in_their_database() -> None:
    misplaced = misplaced_rows()
    assert not misplaced, "Rows outside their database:\n" + "\n".join(misplaced)


def unprocessed_deliveries() -> dict[str, list[str]]:
    """The producers' databases holding deliveries not processed (yet), and which: "event -> handler (status)"."""
    found: dict[str, list[str]] = {}
    for alias in aliases():
        if not _has_table(alias, Delivery):
            continue
        open_ = Delivery.objects.using(alias).exclude(status=Delivery.Status.PROCESSED).order_by("id")
        for event_type, handler, status in open_.values_list("event__event_type", "handler", "status"):
            found.setdefault(alias, []).append(f"{event_type} -> {handler} ({status})")
    return found


def every_delivery_processed() -> bool:
    """For wait_until: relays the consumers' acknowledgements (what each domain's relay loop does)
    to the producers' workers, then says whether every delivery is marked processed in its
    producer's database."""
    for alias in aliases():
        if _has_table(alias, Acknowledgement):
            send_acknowledgements(using=alias)
    return not unprocessed_deliveries()
