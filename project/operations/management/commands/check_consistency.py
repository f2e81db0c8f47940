"""Reconcile the domains' tables with each other; exit 1 when they disagree."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from project.operations.reconciliation import consistency_findings, findings_as_json


class Command(BaseCommand):
    help = (
        "Cross-domain reconciliation: confirmed orders without committed stock, stock still held for failed or "
        "cancelled orders, reserved stock that does not add up, public articles out of step with authoring, "
        "notifications' recipients behind users, skus orders does not know. Prints findings grouped by check "
        "and exits 1 if there are any; prints 'consistent' and exits 0 otherwise."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=60.0,
            help="Ignore changes younger than this: their events may still be on their way (default 60).",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print the findings as one JSON document."
        )

    def handle(self, *args: Any, grace_seconds: float, as_json: bool, **opts: Any) -> None:
        if grace_seconds < 0:
            raise CommandError("--grace-seconds must be zero or more.")
        results = consistency_findings(grace=timedelta(seconds=grace_seconds))
        total = sum(len(findings) for findings in results.values())
        if as_json:
            self.stdout.write(_dumps(findings_as_json(results)))
        elif total:
            for name, findings in results.items():
                if findings:
                    self.stdout.write(f"{name}: {len(findings)}")
                    for finding in findings:
                        self.stdout.write(f"  [{finding.kind}] {finding.subject}: {finding.problem}")
        else:
            self.stdout.write("consistent")
        if total:
            raise CommandError(f"{total} inconsistenc{'y' if total == 1 else 'ies'} found.")


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
