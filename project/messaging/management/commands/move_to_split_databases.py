"""Copy each domain given a database of its own from the single database it ran on (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from project.management import DomainCommand
from project.messaging.operations.moving import move_to_split_databases


class Command(DomainCommand):
    help = (
        "Move a single-database deployment to a database per domain: copy every row of each domain "
        "with its own database (DATABASE_URL_<LABEL>, migrated), and its messaging rows, from the default "
        "database into it, keys kept; re-runnable. Stop every writer of those domains first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--domain", action="append", dest="domains", help="Move only this domain (repeatable; default: all)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be copied; change nothing.")
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="Then delete the copied rows from the default database (only once the copy is verified).",
        )

    def handle(self, *args: Any, domains: list[str] | None, dry_run: bool, delete_source: bool, **options: Any) -> None:
        moves = move_to_split_databases(
            domains=domains, dry_run=dry_run, delete_source=delete_source, progress=self.stdout.write
        )
        copied = sum(model.copied for move in moves for model in move.models)
        verb = "would copy" if dry_run else "copied"
        self.stdout.write(f"{', '.join(move.domain for move in moves)}: {verb} {copied} rows in all.")
