"""Moving a single-database deployment to a database per domain (``manage.py move_to_split_databases``).

The deployment ran on one database; the operator stopped every writer of the domains to move,
gave them ``DATABASE_URL_<LABEL>`` and migrated those databases (docs/operations.md, "Moving to a
database per domain"). The router now sends each such domain's models to its own alias, but its
rows are still in the default database's tables: this copies them, read with ``.using("default")``
explicitly, into the domain's database, primary keys kept (acknowledgements and dead letters name
deliveries by id), with the domain's messaging rows: the events it published and their deliveries,
and the inbox records, dead letters, acknowledgements and projection rebuilds of its handlers.

One transaction per domain on its database, so a domain is moved whole or not at all; batches of
BATCH_SIZE rows, parents before children. Running it again copies nothing twice: a row whose key
is already in the target is compared, skipped when equal, and the move is refused when it differs
(the domain ran on its new database since). Deleting the copied rows from the default database
(``delete_source``) happens only after the counts were verified, in a transaction of its own.

The messaging layer knows no domain: the domains are ``settings.DOMAIN_APPS`` and their models
are what Django's app registry holds for each label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, transaction
from django.db.models import Model, QuerySet

from project.errors import DomainError
from project.messaging.models import (
    Acknowledgement,
    DeadLetter,
    Delivery,
    InboxRecord,
    OutboxEvent,
    ProjectionRebuild,
)
from project.messaging.registry.databases import database_for, has_database

BATCH_SIZE = 500
SOURCE = DEFAULT_DB_ALIAS


class MoveRefused(DomainError):
    """The move cannot run as asked: nothing was copied or deleted for the domain it names."""

    code = "move-refused"


@dataclass
class ModelMove:
    """One model's rows of one domain: how many the source holds and what became of them."""

    domain: str
    database: str
    model: str  # "orders.Order", "messaging.OutboxEvent"
    in_source: int = 0
    copied: int = 0  # (dry run: would be copied)
    already_there: int = 0  # the same row under the same key, from an earlier run
    verified: int = 0  # source rows found in the target after copying
    in_target: int = 0
    deleted: int = 0

    def line(self, *, dry_run: bool) -> str:
        head = f"{self.domain}: {self.model}: {self.in_source} in {SOURCE}"
        if dry_run:
            return f"{head}, would copy {self.copied}, {self.already_there} already in {self.database}"
        return (
            f"{head}, copied {self.copied}, {self.already_there} already there, "
            f"{self.verified} verified in {self.database} ({self.in_target} there in all)"
        )


@dataclass
class DomainMove:
    domain: str
    database: str
    models: list[ModelMove] = field(default_factory=list)


@dataclass(frozen=True)
class _Part:
    """One model's share of a domain: the source rows to copy (a queryset on the default database)."""

    model: type[Model]
    source: Callable[[], QuerySet]


def domains_with_own_database() -> list[str]:
    """The domains this process routes to a database of their own (DATABASE_URL_<LABEL>)."""
    return [
        label
        for label in settings.DOMAIN_APPS
        if database_for(label) != DEFAULT_DB_ALIAS and has_database(database_for(label))
    ]


def move_to_split_databases(
    *,
    domains: list[str] | None = None,
    dry_run: bool = False,
    delete_source: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[DomainMove]:
    """Copy each domain with a database of its own from the default database into it (see the
    module's docstring); ``domains`` narrows the move to some of them. Every check runs for every
    domain before anything is copied. ``progress`` gets a line per model as each domain is done."""
    if dry_run and delete_source:
        raise MoveRefused("--dry-run and --delete-source do not go together: a dry run changes nothing.")
    if not has_database(SOURCE):
        raise MoveRefused(
            "This process has no default database (DATABASE_URL), where the rows to move are: run the move "
            "with DATABASE_URL and every domain's DATABASE_URL_<LABEL> set, DOMAINS unset."
        )
    movable = domains_with_own_database()
    if not movable:
        labels = [label for label in settings.DOMAIN_APPS if label not in settings.DOMAINS_IN_DEFAULT_DATABASE]
        raise MoveRefused(
            "No domain has a database of its own: set DATABASE_URL_<LABEL> for the domains to move "
            f"({', '.join(labels)}), run `manage.py migrate --database <label>` for each, then this command again."
        )
    if domains:
        if unknown := [label for label in domains if label not in movable]:
            raise MoveRefused(
                f"{', '.join(unknown)}: not a domain with a database of its own here (those are: {', '.join(movable)})."
            )
        movable = [label for label in movable if label in domains]
    plans = {label: _parts(label) for label in movable}
    for label, parts in plans.items():
        _check_tables(label, database_for(label), parts)
    for parts in plans.values():
        for part in parts:
            part.source()  # the acknowledgements' owners are found now, before any domain is deleted
    moves = []
    for label, parts in plans.items():
        moves.append(_move_domain(label, database_for(label), parts, dry_run=dry_run, progress=progress))
    if delete_source:
        for move in moves:
            _delete_source(move, plans[move.domain], progress=progress)
    return moves


def _parts(label: str) -> list[_Part]:
    """What belongs to the domain, parents before children: its own models, then its messaging
    rows (the fields that name the app a messaging row belongs to: project/messaging/models.py)."""
    prefix = f"{label}."
    own = [_Part(model, _all_of(model)) for model in _in_fk_order(_domain_models(label))]
    return [
        *own,
        _Part(OutboxEvent, lambda: OutboxEvent.objects.using(SOURCE).filter(producer=label)),
        _Part(Delivery, lambda: Delivery.objects.using(SOURCE).filter(event__producer=label)),
        _Part(InboxRecord, lambda: InboxRecord.objects.using(SOURCE).filter(handler__startswith=prefix)),
        _Part(DeadLetter, lambda: DeadLetter.objects.using(SOURCE).filter(handler__startswith=prefix)),
        _Part(Acknowledgement, _acknowledgements_of(label)),
        _Part(ProjectionRebuild, lambda: ProjectionRebuild.objects.using(SOURCE).filter(projection__startswith=prefix)),
    ]


def _acknowledgements_of(label: str) -> Callable[[], QuerySet]:
    """The acknowledgements the domain's handlers wrote. A row names the producer and its delivery,
    not the consumer; the delivery's handler does, read where the producer's deliveries are: the
    default database, or the producer's own if it was moved (and deleted from here) before. Found once,
    before anything is deleted, so that the copy, its check and the deletion see the same rows."""
    found: list[int] | None = None

    def source() -> QuerySet:
        nonlocal found
        if found is None:
            found = []
            for batch in _batches(Acknowledgement.objects.using(SOURCE).all()):
                by_producer: dict[str, list[Acknowledgement]] = {}
                for row in batch:
                    by_producer.setdefault(row.producer, []).append(row)
                for producer, acknowledgements in by_producer.items():
                    ids = [row.delivery_id for row in acknowledgements]
                    handlers: dict[int, str] = {}
                    for alias in dict.fromkeys([SOURCE, database_for(producer)]):
                        if has_database(alias):
                            handlers.update(
                                Delivery.objects.using(alias)
                                .filter(pk__in=ids, event__producer=producer)
                                .values_list("pk", "handler")
                            )
                    found.extend(
                        row.pk for row in acknowledgements if handlers.get(row.delivery_id, "").startswith(f"{label}.")
                    )
        return Acknowledgement.objects.using(SOURCE).filter(pk__in=found)

    return source


def _all_of(model: type[Model]) -> Callable[[], QuerySet]:
    return lambda: model._base_manager.using(SOURCE).all()


def _domain_models(label: str) -> list[type[Model]]:
    """The app's tables: its models and the tables Django made for their many-to-many fields."""
    return [
        model
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def _in_fk_order(models: list[type[Model]]) -> list[type[Model]]:
    """Parents first. A cycle of foreign keys keeps the registry's order: the constraints are
    checked at commit (deferred on PostgreSQL and SQLite), when every row of the domain is in."""
    graph = {
        model: {
            f.related_model
            for f in model._meta.concrete_fields
            if f.is_relation and f.related_model in models and f.related_model is not model
        }
        for model in models
    }
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError:
        return models


def _check_tables(label: str, target: str, parts: list[_Part]) -> None:
    """Refuse before copying anything: the target must be migrated, and the source must hold
    the domain's tables with every column this code reads."""
    missing_in_target = _missing(target, [part.model for part in parts])
    if missing_in_target:
        raise MoveRefused(
            f"{label}: its database ({target}) is not migrated ({_first(missing_in_target)}): run "
            f"`manage.py migrate --database {target}` first."
        )
    missing_in_source = _missing(SOURCE, [part.model for part in parts if part.model._meta.app_label == label])
    if missing_in_source:
        raise MoveRefused(
            f"{label}: the default database has no {_first(missing_in_source)}: there is nothing of {label} to move "
            "from it (was it moved and its tables dropped already?). If the single database is older than this "
            f"code, migrate it with the single-database settings (no DATABASE_URL_{label.upper()}) first."
        )


def _missing(alias: str, models: list[type[Model]]) -> list[str]:
    """The tables, or table.column pairs, of ``models`` that the database lacks."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        missing = []
        for model in models:
            table = model._meta.db_table
            if table not in tables:
                missing.append(f"table {table}")
                continue
            columns = {column.name for column in connection.introspection.get_table_description(cursor, table)}
            missing.extend(
                f"column {table}.{f.column}" for f in model._meta.local_concrete_fields if f.column not in columns
            )
    return missing


def _first(missing: list[str]) -> str:
    return missing[0] + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")


def _move_domain(
    label: str,
    target: str,
    parts: list[_Part],
    *,
    dry_run: bool,
    progress: Callable[[str], None] | None,
) -> DomainMove:
    move = DomainMove(domain=label, database=target)
    try:
        with transaction.atomic(using=target):
            for part in parts:
                result = _copy(label, target, part, dry_run=dry_run)
                move.models.append(result)
            if not dry_run:
                _reset_sequences(target, [part.model for part in parts])
    except IntegrityError as exc:
        # A row of another key already holds a unique value (an inbox record of the same handler
        # and event): the target has rows of its own.
        raise MoveRefused(
            f"{label}: {target} refused a copied row ({exc}): it holds rows the default database does not; "
            "nothing of the domain was copied."
        ) from exc
    if progress is not None:
        for result in move.models:
            progress(result.line(dry_run=dry_run))
    return move


def _copy(label: str, target: str, part: _Part, *, dry_run: bool) -> ModelMove:
    model = part.model
    result = ModelMove(domain=label, database=target, model=model._meta.label)
    fields = model._meta.local_concrete_fields
    for batch in _batches(part.source()):
        result.in_source += len(batch)
        existing = {row.pk: row for row in model._base_manager.using(target).filter(pk__in=[r.pk for r in batch])}
        new = []
        for row in batch:
            there = existing.get(row.pk)
            if there is None:
                new.append(row)
            elif _values(there, fields) == _values(row, fields):
                result.already_there += 1
            else:
                raise MoveRefused(
                    f"{label}: {target} already holds {model._meta.label} {row.pk} with other values than the "
                    "default database: the domain has run on its own database since. Nothing of the domain was "
                    "copied; the move is not repeated over newer rows."
                )
        result.copied += len(new)
        if new and not dry_run:
            _insert(model, target, new)
    if not dry_run:
        result.verified = sum(
            model._base_manager.using(target).filter(pk__in=[r.pk for r in batch]).count()
            for batch in _batches(part.source())
        )
        if result.verified != result.in_source:
            raise MoveRefused(
                f"{label}: {model._meta.label}: {result.in_source} rows in the default database but "
                f"{result.verified} of them in {target} after copying; nothing of the domain was kept."
            )
        result.in_target = model._base_manager.using(target).count()
    return result


def _batches(queryset: QuerySet) -> Iterator[list[Model]]:
    """The rows in primary-key order, BATCH_SIZE at a time (keyset: each batch starts after the last)."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        batch = list(page[:BATCH_SIZE])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def _values(row: Model, fields: list) -> tuple:
    return tuple(f.value_from_object(row) for f in fields)


def _insert(model: type[Model], target: str, rows: list[Model]) -> None:
    """Insert the rows as they are: raw, as loaddata does, so that ``auto_now_add`` fields keep
    their recorded time instead of the time of the move (bulk_create would stamp them)."""
    fields = model._meta.local_concrete_fields
    size = connections[target].ops.bulk_batch_size(fields, rows) or len(rows)
    for start in range(0, len(rows), size):
        model._base_manager.using(target)._insert(rows[start : start + size], fields=fields, raw=True, using=target)


def _reset_sequences(target: str, models: list[type[Model]]) -> None:
    """On PostgreSQL the copied keys did not advance the sequences: the next insert would reuse one."""
    connection = connections[target]
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _delete_source(move: DomainMove, parts: list[_Part], *, progress: Callable[[str], None] | None) -> None:
    """Delete the domain's rows from the default database, children first, each batch only once
    the target is seen to hold every row of it (verified again: this runs after the copy's commit)."""
    results = {result.model: result for result in move.models}
    try:
        with transaction.atomic(using=SOURCE):
            for part in reversed(parts):
                result = results[part.model._meta.label]
                manager = part.model._base_manager
                for batch in _batches(part.source()):
                    keys = [row.pk for row in batch]
                    if manager.using(move.database).filter(pk__in=keys).count() != len(keys):
                        raise MoveRefused(
                            f"{move.domain}: {part.model._meta.label}: rows of the default database are missing "
                            f"in {move.database}; nothing was deleted from the default database."
                        )
                    deleted, _ = manager.using(SOURCE).filter(pk__in=keys).delete()
                    result.deleted += len(keys) if deleted else 0
    except DatabaseError as exc:
        raise MoveRefused(
            f"{move.domain}: deleting from the default database failed ({exc}); nothing of it was deleted."
        ) from exc
    if progress is not None:
        for result in move.models:
            if result.deleted:
                progress(f"{move.domain}: {result.model}: deleted {result.deleted} from {SOURCE}")
