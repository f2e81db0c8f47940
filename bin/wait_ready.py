#!/usr/bin/env python3
"""Wait until the system bin/run started can serve the README's example, then exit.

    python bin/wait_ready.py --url http://127.0.0.1:8000/health/live/ --pid HONCHO_PID [--timeout 180]

Ready means: the web process answers ``--url`` with 200, and the demo data's events were handled
(``manage.py check_consistency --grace-seconds 0`` finds no stocked sku that orders does not know
and no user that notifications does not know). Until orders' worker has handled inventory's
ProductAdded events, an order for a seeded sku is refused with "Unknown sku".

Exit codes: 0 ready; 2 the process ``--pid`` (honcho) ended first; 3 not ready within
``--timeout`` seconds (what was still missing is printed on stderr).
Stdlib only; runs manage.py with this Python, in the environment it was given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READY, ENDED, TIMED_OUT = 0, 2, 3
# The findings of check_consistency that mean "an event of the seed is not handled yet".
SEED_NOT_HANDLED = ("known_product_missing", "recipient_projection_behind")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def web_answers(url: str) -> str:
    """'' when the URL answers 200, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (our own http URL)
            return "" if response.status == 200 else f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"


def seed_handled() -> str:
    """'' when check_consistency finds no seeded product or user still unknown to its consumers."""
    try:
        done = subprocess.run(  # noqa: S603 (our own argv)
            [sys.executable, str(REPO / "manage.py"), "check_consistency", "--grace-seconds", "0", "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "check_consistency took longer than 60 s"
    try:
        counts = json.loads(done.stdout)["counts"]
    except (ValueError, KeyError, TypeError):
        return f"check_consistency gave no report: {(done.stderr or done.stdout).strip()[-500:]}"
    waiting = {kind: counts[kind] for kind in SEED_NOT_HANDLED if counts.get(kind)}
    return ", ".join(f"{count} x {kind}" for kind, count in waiting.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="give up when this process ends (honcho)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    missing = "not checked yet"
    while time.monotonic() < deadline:
        if not alive(args.pid):
            return ENDED
        # The web first: until it answers, the workers are most likely still starting too.
        missing = web_answers(args.url) or seed_handled()
        if not missing:
            return READY
        time.sleep(1.0)
    print(f"wait_ready: not ready after {args.timeout:.0f} s: {missing}", file=sys.stderr)
    return TIMED_OUT


if __name__ == "__main__":
    sys.exit(main())
