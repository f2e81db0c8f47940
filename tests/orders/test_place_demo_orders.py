"""place_demo_orders: places orders, shows how many have ended while it waits, and says when some did not."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from orders.management.commands import place_demo_orders as command
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import KnownProductFactory
from tests.notifications.helpers import register

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shop")]


@pytest.fixture
def shop(bus: TestBus) -> None:
    for sku in ("CRUNCHY-ARMCHAIR", "WOBBLY-TABLE"):
        StockItemFactory(sku=sku, on_hand=1_000)
        KnownProductFactory(sku=sku)
    register("alice")  # through users' service: notifications learns of her too
    bus.drain()


def place_demo_orders(*args: str, out: StringIO | None = None) -> str:
    out = out or StringIO()
    call_command("place_demo_orders", *args, "--seed", "7", stdout=out, stderr=StringIO())
    return out.getvalue()


@override_settings(PROGRESS_LINE_INTERVAL=0)
def test_it_shows_orders_placed_then_how_many_ended_while_it_waits(
    bus: TestBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workers: each time the command looks again, the bus has delivered everything pending.
    monkeypatch.setattr(command.time, "sleep", lambda seconds: bus.drain())
    output = place_demo_orders("6", "--fail-share", "0.5", "--wait", "30")
    lines = output.splitlines()
    assert [line for line in lines if line.startswith("placing orders: ")][-1].startswith(
        "placing orders: 6/6 orders (100%)"
    )
    assert "placed 6 orders" in lines
    ended = [line for line in lines if line.startswith("orders ended: ")]
    assert ended[0].startswith("orders ended: 0/6 orders (0%)") and ended[0].endswith("still open 6")
    assert ended[-1].startswith("orders ended: 6/6 orders (100%)")
    assert "confirmed " in ended[-1] and "failed " in ended[-1] and ended[-1].endswith("still open 0")
    summary = lines[len(lines) - lines[::-1].index(ended[-1])]  # the line after the last progress line
    assert summary.startswith("confirmed: ") and "failed: " in summary


@override_settings(PROGRESS_LINE_INTERVAL=0)
def test_it_exits_non_zero_when_orders_are_still_open_at_the_deadline(bus: TestBus) -> None:
    # No worker delivers anything: every order stays open.
    out = StringIO()
    with pytest.raises(CommandError, match="3 of 3 orders had not ended after 0.2s: are the orders and inventory"):
        place_demo_orders("3", "--wait", "0.2", out=out)
    ended = [line for line in out.getvalue().splitlines() if line.startswith("orders ended: ")]
    assert len(ended) >= 2  # at least the first look and the last one, at the deadline
    assert all(line.startswith("orders ended: 0/3 orders (0%)") and line.endswith("still open 3") for line in ended)


def test_ctrl_c_while_it_waits_says_how_many_ended_and_exits_130(bus: TestBus, monkeypatch: pytest.MonkeyPatch) -> None:
    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(command.time, "sleep", ctrl_c)
    with pytest.raises(CommandError, match="Stopped waiting: 0 of 2 orders had ended") as stopped:
        place_demo_orders("2", "--wait", "30")
    assert stopped.value.returncode == 130
