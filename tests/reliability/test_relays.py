"""Sending the outbox under faults, on a system where only relays (or the test) send: nothing is
sent right after commit, in the test process or in the workers (MESSAGING_SEND_ON_COMMIT=false).

- Two relays run at once, and one is SIGKILLed in the middle of sending a backlog: the batch it
  had claimed rolls back and is sent again by a relay (the broker may have taken it already:
  then the inbox drops the copies). No row is ever sent by both relays, and every delivery is
  applied exactly once.
- Every message delivered twice, and out of order: the test is the relay. Each delivery goes out
  as two copies, each copy held back 0 to 3 rounds, each round's messages shuffled or reversed,
  saga commands and replies included. Every delivery is applied once; every second copy is
  recognised as a duplicate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from project.messaging.models import Delivery
from project.messaging.outbox.relay import delivery_message, send_acknowledgements, send_messages
from project.messaging.registry.databases import messaging_databases
from tests.conftest import wait_until
from tests.reliability.conftest import repeats, timings
from tests.reliability.harness import Relay, System
from tests.reliability.shop import everywhere, open_shop, run_stream

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

SYSTEM = "relay-only"


@pytest.fixture(autouse=True)
def _nothing_sent_on_commit(settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False


# --- relays killed mid-batch, two at once ----------------------------------------------------


@dataclass(frozen=True)
class RelayTiming:
    seed: int
    kills: int
    batch_size: int
    aim: str  # "window": killed between the broker taking its batch and the commit; "random": any moment

    def __str__(self) -> str:
        where = "between send and commit" if self.aim == "window" else "at random"
        return f"{self.kills} kills {where}, batch {self.batch_size}, seed {self.seed}"


RELAY_TIMINGS = timings(
    [
        RelayTiming(seed=71, kills=2, batch_size=5, aim="window"),
        RelayTiming(seed=73, kills=2, batch_size=2, aim="random"),
    ]
)
LINGER = 0.3  # seconds a relay's first batch waits between send and commit (tests/reliability/lingering_relay.py)


def pending() -> int:
    return sum(rows.filter(status=Delivery.Status.PENDING).count() for rows in everywhere(Delivery))


def sent_by(relay: Relay) -> int:
    """Deliveries a relay (its processes) reported sending (its log: "default: sent N, ...")."""
    total = 0
    for line in relay.log().splitlines():
        if ": sent " in line:
            total += int(line.split(": sent ", 1)[1].split(",", 1)[0])
    return total


@pytest.mark.parametrize("timing", RELAY_TIMINGS, ids=str)
def test_relays_killed_mid_batch_and_two_at_once_send_every_delivery_and_each_is_applied_once(
    system: System, finish, timing: RelayTiming, tmp_path: Path
) -> None:
    env = {
        "MESSAGING_RELAY_BATCH_SIZE": str(timing.batch_size),
        "MESSAGING_REDELIVER_AFTER": "120",  # no re-send by the sweep: every copy here comes from a kill
        "RELIABILITY_RELAY_LINGER": str(LINGER),
        "RELIABILITY_RELAY_STATE": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    # Aiming at the window needs a relay that lingers there (on its first batch); otherwise the real command.
    relays = [system.start_relay(env, lingering=timing.aim == "window") for _ in range(2)]
    shop = open_shop()
    rng = random.Random(timing.seed)
    kill_before = set(rng.sample(range(4, 28, 4), timing.kills))
    last_kill = time.monotonic()
    killed_sending: set[int] = set()  # relays killed with a batch sent and not committed

    def batch_in_window() -> tuple[Relay, int] | None:
        """A relay process between sending its first batch and committing it (split: one
        domain's part of a relay; the relay's other parts live on)."""
        pids = {pid: r for r in relays for pid in r.pids()}
        for marker in tmp_path.glob("sent-*"):
            pid = int(marker.name.removeprefix("sent-"))
            if pid in pids:
                return pids[pid], pid
        return None

    def fault(step: int) -> None:
        nonlocal last_kill
        if step + 3 in kill_before:
            for relay in relays:  # a backlog builds up for three steps
                relay.stop()
        if step in kill_before:
            backlog = pending()
            for marker in tmp_path.glob("sent-*"):
                marker.unlink()
            for relay in relays:
                relay.start()
            # Both relays send the backlog in batches; kill one while it is at it.
            if timing.aim == "window":
                victim, pid = wait_until(batch_in_window, timeout=30, interval=0.002, what="a relay to send a batch")
                killed_sending.add(relays.index(victim))
            else:
                wait_until(lambda: pending() < backlog, timeout=30, interval=0.005, what="a relay to start sending")
                time.sleep(rng.uniform(0, 0.05))
                victim = rng.choice(relays)
                pid = rng.choice(sorted(victim.pids()))  # split: one domain's process of that relay
            victim.kill_hard(pid)
            victim.start()
            last_kill = time.monotonic()

    run_stream(shop, seed=timing.seed, before_step=fault)
    row = finish(shop, fault="2 relays, one SIGKILLed", timing=str(timing), fault_ended_at=last_kill)
    senders = [sent_by(r) for r in relays]  # batches of completed sweeps (a killed one logs nothing)
    row.details.update(sent_by_each_relay=senders)
    sending = {i for i, n in enumerate(senders) if n > 0} | killed_sending
    assert sending == {0, 1}, f"both relays sent deliveries: {senders}, killed while sending: {killed_sending}"
    # A batch is marked sent, in the transaction that claimed it, only after the broker took it:
    # no row counts two sends, and the only extra copies are those of batches a relay was killed
    # with (sent, not committed, so claimed and sent again by a relay). A row of such a batch may
    # also say it was sent 0 times: its handler marked it processed before a relay sent it again.
    assert max(n for rows in everywhere(Delivery) for n in rows.values_list("send_count", flat=True)) == 1
    assert row.duplicates <= timing.kills * timing.batch_size
    if timing.aim == "window":
        # Each batch a relay was killed with reached the workers anyway. Its rows, pending again
        # after the rollback, were either sent again by a relay (a duplicate, dropped by the inbox)
        # or marked processed by their handler first (processed with send_count 0).
        unrecorded = sum(
            rows.filter(send_count=0, status=Delivery.Status.PROCESSED).count() for rows in everywhere(Delivery)
        )
        assert row.duplicates + unrecorded >= timing.kills, (row.duplicates, unrecorded)


# --- every message twice, out of order ------------------------------------------------------


class ChaosRelay:
    """The test as the relay: each pending delivery becomes two copies, each held back 0-3
    rounds; every round's due messages go out shuffled (or reversed). Split, it also sends each
    database's acknowledgements, as a relay's sweep does (the real code: they are not the fault)."""

    def __init__(self, seed: int, order: str) -> None:
        self.rng = random.Random(seed)
        self.order = order
        self.round = 0
        self.held: list[tuple[int, tuple[str, dict]]] = []

    def pump(self) -> bool:
        """One round: take what is pending, send what is due. True once nothing is held back."""
        batch: list[Delivery] = []
        for alias in messaging_databases():
            with transaction.atomic(using=alias):
                taken = list(
                    Delivery.objects.using(alias)
                    .select_for_update()
                    .filter(status=Delivery.Status.PENDING)
                    .select_related("event")
                    .order_by("id")[:500]
                )
                Delivery.objects.using(alias).filter(pk__in=[d.pk for d in taken]).update(
                    status=Delivery.Status.SENT, send_count=F("send_count") + 2, last_sent_at=timezone.now()
                )
            batch += taken
            send_acknowledgements(using=alias)
        for d in batch:
            message = (d.queue, delivery_message(d))
            self.held += [(self.round + self.rng.choice((0, 0, 1, 2, 3)), message) for _ in range(2)]
        due = [m for r, m in self.held if r <= self.round]
        self.held = [(r, m) for r, m in self.held if r > self.round]
        self.round += 1
        if due:
            send_messages(self.arrange(due))
        return not self.held

    def arrange(self, messages: list[tuple[str, dict]]) -> Sequence[tuple[str, dict]]:
        if self.order == "reverse":
            return messages[::-1]
        self.rng.shuffle(messages)
        return messages


@dataclass(frozen=True)
class ChaosTiming:
    seed: int
    order: str

    def __str__(self) -> str:
        return f"all twice, held 0-3 rounds, {self.order}d, seed {self.seed}"


# Reversed rounds only in deeper runs (RELIABILITY_REPEATS > 1): the CI budget holds one run.
CHAOS_TIMINGS = timings([ChaosTiming(seed=81, order="shuffle")]) + (
    [ChaosTiming(seed=82 + 1000 * r, order="reverse") for r in range(repeats())] if repeats() > 1 else []
)


@pytest.mark.parametrize("timing", CHAOS_TIMINGS, ids=str)
def test_every_message_delivered_twice_and_out_of_order_is_applied_exactly_once(
    system: System, finish, timing: ChaosTiming
) -> None:
    chaos = ChaosRelay(timing.seed, timing.order)
    shop = open_shop(pump=chaos.pump)
    run_stream(shop, seed=timing.seed, before_step=lambda step: chaos.pump())
    row = finish(
        shop, fault="duplicates + reorder", timing=str(timing), fault_ended_at=time.monotonic(), pump=chaos.pump
    )
    assert not chaos.held
    assert row.sent == 2 * row.processed
    assert row.duplicates == row.processed, "every second copy is recognised as a duplicate"
