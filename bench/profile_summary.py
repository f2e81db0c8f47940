"""Summarise a py-spy "raw" profile (collapsed stacks): where the samples went.

    python -m bench.profile_summary results/.../orders.raw [--under relay_pending] [--top 25]

Prints the share of samples spent inside each of the most expensive functions (inclusive) and
the functions where the samples actually were (self), optionally only for stacks that pass
through a function whose name contains ``--under``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``, with site-packages' package kept."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/work/" in path or path.startswith("/"):
        parts = Path(path).parts
        path = "/".join(parts[-2:])
    return f"{m['func']} ({path})"


def load(path: Path, under: str | None = None) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [short(f) for f in stack.split(";")]
        if under is not None:
            idx = next((i for i, f in enumerate(frames) if under in f), None)
            if idx is None:
                continue
        stacks.append((frames, int(count)))
    return stacks


def summarise(path: Path, *, under: str | None = None, top: int = 25) -> dict:
    stacks = load(path, under)
    total = sum(c for _, c in stacks) or 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    return {
        "samples": total,
        "inclusive": [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common(top)],
        "self": [(f, round(100 * c / total, 1)) for f, c in self_time.most_common(top)],
    }


# Where a worker's samples went, first matching rule wins (the rest is Celery and billiard: taking
# the message, IPC between the pool process and the worker, acknowledging).
BUCKETS = [
    ("send after commit (send_committed)", ("send_committed (",)),
    ("database connection open/close", ("get_new_connection (", "close_old_connections (", "_close (django")),
    ("waiting for SQLite's write lock", ("_start_transaction_under_autocommit (",)),
    ("handler: domain code and its queries", ("/handlers.py)",)),
    (
        "inbox, transaction, dead-letter check, delivery mark",
        (
            "process (project/messaging/inbox/consumer.py)",
            "_process (messaging/inbox/consumer.py)",
            "process (messaging/inbox/consumer.py)",
        ),
    ),
    ("relay batches (relay_pending)", ("relay_pending (",)),
]


def breakdown(path: Path) -> dict[str, float]:
    """Share of samples (%) per bucket of BUCKETS, plus "Celery/billiard and other"."""
    stacks = load(path)
    total = sum(c for _, c in stacks) or 1
    out: dict[str, float] = {name: 0.0 for name, _ in BUCKETS}
    out["Celery/billiard and other"] = 0.0
    for frames, count in stacks:
        joined = ";".join(frames)
        name = next((n for n, needles in BUCKETS if any(x in joined for x in needles)), "Celery/billiard and other")
        out[name] += count
    return {k: round(100 * v / total, 1) for k, v in out.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--under")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    s = summarise(args.profile, under=args.under, top=args.top)
    print("breakdown %: " + ", ".join(f"{k} {v}" for k, v in breakdown(args.profile).items()))
    print(f"{s['samples']} samples" + (f" under {args.under}" if args.under else ""))
    print("\ninclusive %:")
    for f, pct in s["inclusive"]:
        print(f"  {pct:5.1f}  {f}")
    print("\nself %:")
    for f, pct in s["self"]:
        print(f"  {pct:5.1f}  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
