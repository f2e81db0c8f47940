"""A DomainError raised in a management command is a non-zero exit with the rule's message."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from project.errors import DomainError
from project.management import DomainCommand


class RefusingCommand(DomainCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        raise DomainError("The crunchy armchair cannot be restocked today.")


class CountingCommand(DomainCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        for sku in ("CRUNCHY-ARMCHAIR", "GHOST-SOFA", "SHINY-LAMP"):
            with self.refusal_reported(prefix=f"{sku}: "):
                if sku.startswith("GHOST"):
                    raise DomainError("unknown sku.")
                self.stdout.write(f"counted {sku}")
        if self.refusals:
            raise CommandError(f"{self.refusals} of 3 not counted.")


def test_call_command_raises_a_command_error_with_the_message() -> None:
    with pytest.raises(CommandError, match="^The crunchy armchair cannot be restocked today.$") as refused:
        call_command(RefusingCommand())
    assert refused.value.returncode == 1
    assert isinstance(refused.value.__cause__, DomainError)


def test_manage_py_exits_non_zero_and_prints_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        RefusingCommand().run_from_argv(["manage.py", "refusing"])
    assert exited.value.code == 1
    assert "CommandError: The crunchy armchair cannot be restocked today." in capsys.readouterr().err


def test_a_refusal_reported_per_item_is_written_counted_and_the_rest_carried_out() -> None:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 3 not counted"):
        call_command(CountingCommand(), stdout=out, stderr=err)
    assert out.getvalue().splitlines() == ["counted CRUNCHY-ARMCHAIR", "counted SHINY-LAMP"]
    assert err.getvalue() == "GHOST-SOFA: unknown sku.\n"
