"""The reliability report: one row per test run, printed at the end of the session and saved as JSON.

Columns: messages sent (every send of every delivery, plus messages the test planted or sent
again), processed (inbox records: deliveries applied), retried (transient failures retried, from
the workers' metrics), dead-lettered, duplicates suppressed (deliveries the inbox recognised as
already applied, from the workers' metrics), and the time from the end of the fault until the
whole system was quiet again (every order ended, every delivery processed, the broker empty).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    test: str
    fault: str
    timing: str
    database: str
    sent: int
    processed: int
    retried: int
    dead_lettered: int
    duplicates: int
    converge_seconds: float
    stream_seconds: float
    orders: dict[str, int] = field(default_factory=dict)
    emails: int = 0
    details: dict[str, Any] = field(default_factory=dict)


COLUMNS = (
    ("fault", 24),
    ("timing", 48),
    ("db", 8),
    ("sent", 5),
    ("processed", 9),
    ("retried", 7),
    ("dead", 4),
    ("dups", 4),
    ("converge", 8),
    ("orders c/f/x", 12),
    ("emails", 6),
)


def _short(database: str) -> str:
    """ "postgresql split" -> "pg split": the vendor, and whether each domain had its own database."""
    return database.replace("postgresql", "pg")


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def table(self) -> str:
        header = " ".join(name.ljust(width) for name, width in COLUMNS)
        lines = [header, "-" * len(header)]
        for r in self.rows:
            orders = f"{r.orders.get('confirmed', 0)}/{r.orders.get('failed', 0)}/{r.orders.get('cancelled', 0)}"
            cells = (
                r.fault, r.timing, _short(r.database), r.sent, r.processed, r.retried, r.dead_lettered, r.duplicates,
                f"{r.converge_seconds:.1f}s", orders, r.emails,
            )  # fmt: skip
            lines.append(
                " ".join(str(cell)[:width].ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))
            )
            if r.details:
                lines.append("    " + ", ".join(f"{k}={v}" for k, v in r.details.items()))
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(r) for r in self.rows], indent=2, default=str) + "\n")
