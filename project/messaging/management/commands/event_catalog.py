"""Write the message catalog (docs/events.md, docs/asyncapi.yaml), or check that it is up to date."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project.messaging.operations.catalog import catalog_entries, render

MAX_DIFF_LINES = 60


class Command(BaseCommand):
    help = (
        "Generate docs/events.md and docs/asyncapi.yaml from the registered messages and subscriptions "
        "of the domain apps (DOMAIN_APPS). With --check, write nothing and fail if the files differ."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Exit non-zero when the files differ from what the code generates."
        )
        parser.add_argument("--docs-dir", default=None, help="Where the files are (default: docs/ of the project).")

    def handle(self, *args: Any, check: bool, docs_dir: str | None, **options: Any) -> None:
        docs = Path(docs_dir) if docs_dir else Path(settings.BASE_DIR) / "docs"
        files = render(catalog_entries(apps=settings.DOMAIN_APPS))
        if check:
            self._check(docs, files)
            return
        docs.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (docs / name).write_text(content, encoding="utf-8")
        self.stdout.write(f"Wrote {', '.join(str(docs / name) for name in files)}.")

    def _check(self, docs: Path, files: dict[str, str]) -> None:
        stale = []
        for name, expected in files.items():
            path = docs / name
            actual = path.read_text(encoding="utf-8") if path.exists() else ""
            if actual != expected:
                stale.append(str(path))
                diff = list(
                    difflib.unified_diff(
                        actual.splitlines(),
                        expected.splitlines(),
                        f"{path} (committed)",
                        f"{path} (from the code)",
                        lineterm="",
                    )
                )
                self.stderr.write("\n".join(diff[:MAX_DIFF_LINES]))
                if len(diff) > MAX_DIFF_LINES:
                    self.stderr.write(f"... ({len(diff) - MAX_DIFF_LINES} more lines of diff)")
        if stale:
            raise CommandError(
                f"The event catalog is out of date: {', '.join(stale)} "
                f"{'does' if len(stale) == 1 else 'do'} not match the messages and subscriptions in the code. "
                "Run `python manage.py event_catalog` and commit the result."
            )
        self.stdout.write(f"The event catalog is up to date ({', '.join(str(docs / name) for name in files)}).")
