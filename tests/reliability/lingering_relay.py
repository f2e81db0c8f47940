"""``manage.py relay_outbox --loop`` whose first batch lingers after the broker took it.

The relay claims a batch, sends it, then marks it sent and commits. This wrapper (used by the
reliability suite only) sleeps RELIABILITY_RELAY_LINGER seconds between the send and the commit
of the first batch of deliveries it sends, after writing the file RELIABILITY_RELAY_STATE/sent-<pid>,
so that a test can SIGKILL the relay exactly in that window: the batch is in Redis, and its rows are
still pending. (Acknowledgements a relay sends, split, go out without lingering: killing one of
those batches would cost no delivery a second copy.) Nothing else changes: the code that claims,
sends, marks and commits is the real one.

    python -m tests.reliability.lingering_relay
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from project.messaging.outbox import relay

    linger = float(os.environ.get("RELIABILITY_RELAY_LINGER", "0"))
    state = Path(os.environ["RELIABILITY_RELAY_STATE"])
    send = relay.send_messages

    lingered = False

    def send_then_linger(
        messages: Sequence[tuple[str, dict]], *, task_name: Callable[[str], str] = relay.delivery_task_name
    ) -> set[int]:
        nonlocal lingered
        returned = send(messages, task_name=task_name)
        if not lingered and task_name is relay.delivery_task_name:
            lingered = True
            (state / f"sent-{os.getpid()}").write_text(str(len(messages)))
            time.sleep(linger)
        return returned

    relay.send_messages = send_then_linger  # looked up by _send_claimed at each batch
    call_command("relay_outbox", "--loop", "--interval", "0.2")


if __name__ == "__main__":
    main()
