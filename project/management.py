"""Management commands' one mapping of domain errors: a rule's refusal is a non-zero exit with its message.

A command that calls a service that can refuse derives from ``DomainCommand`` instead of
Django's ``BaseCommand``: a ``DomainError`` that leaves ``handle`` becomes a ``CommandError``
(``manage.py`` prints "CommandError: <message>" and exits 1; ``call_command`` raises it). A
command that works through many objects and goes on past a refusal wraps each service call in
``with self.refusal_reported(prefix=...)``: the message goes to stderr, ``refusals`` counts it,
and the command decides at the end how to exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from project.errors import DomainError


class DomainCommand(BaseCommand):
    refusals: int = 0  # how many refusal_reported blocks a DomainError ended

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    @contextmanager
    def refusal_reported(self, *, prefix: str = "") -> Iterator[None]:
        """Write a ``DomainError`` raised in the block to stderr (after ``prefix``), count it, go on."""
        try:
            yield
        except DomainError as exc:
            self.refusals += 1
            self.stderr.write(f"{prefix}{exc}")
