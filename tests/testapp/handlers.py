from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from project.messaging.contract.errors import PermanentError, RetryableError
from tests.testapp import services
from tests.testapp.events import Pinged


def _attempts_file(key: str) -> Path:
    folder = Path(settings.TESTAPP_STATE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"attempts-{key}"


def _count_attempt(key: str) -> int:
    """Count attempts in a file: it must survive the rolled-back transaction and the process."""
    path = _attempts_file(key)
    n = int(path.read_text() or 0) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def add_to_tally(event: Pinged) -> None:
    kind, _, arg = event.behaviour.partition(":")
    attempt = _count_attempt(event.key)
    if kind == "transient" and attempt <= int(arg):
        raise RetryableError(f"simulated transient fault {attempt}/{arg}")
    if kind == "permanent":
        raise PermanentError(f"tally {event.key} refuses this ping")
    if kind == "bug":
        raise KeyError("a bug in the handler")
    services.tally_add(key=event.key, amount=event.amount)
    if kind == "slow" and attempt == 1:
        # Inside the handler's transaction, after its write: a kill here must roll it back.
        (Path(settings.TESTAPP_STATE_DIR) / f"inside-{event.key}").write_text(str(os.getpid()))
        time.sleep(float(arg))


SUBSCRIPTIONS = {
    Pinged: [add_to_tally],
}
