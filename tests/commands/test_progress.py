"""project.progress: what a long command shows as it works (a line every few seconds off a terminal, a bar on one)."""

from __future__ import annotations

from io import StringIO

from django.core.management.base import OutputWrapper

from project.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_writes_a_line_at_most_every_interval_and_a_last_one_at_the_end() -> None:
    out, clock = StringIO(), FakeClock()
    with Progress(OutputWrapper(out), "replaying", total=10, unit="deliveries", interval=5, clock=clock) as progress:
        for done in range(1, 11):
            clock.now += 1  # one delivery a second
            progress.update(done, detail=f"failed {done // 4}")
    assert out.getvalue().splitlines() == [
        "replaying: 5/10 deliveries (50%), 1.0/s, 5s elapsed, failed 1",
        "replaying: 10/10 deliveries (100%), 1.0/s, 10s elapsed, failed 2",  # 5 s later
        "replaying: 10/10 deliveries (100%), 1.0/s, 10s elapsed, failed 2",  # the end
    ]


def test_with_no_interval_every_step_is_a_line_and_an_interruption_says_so() -> None:
    out = StringIO()
    try:
        with Progress(out, "rebuilding", total=None, interval=0) as progress:
            progress.advance()
            progress.advance()
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["rebuilding: 1", "rebuilding: 2", "rebuilding: 2"]
    assert lines[-1].endswith("stopped")


def test_a_total_learnt_later_is_shown() -> None:
    out = StringIO()
    with Progress(out, "replaying", total=None, unit="deliveries", interval=0) as progress:
        progress.update(3, total=12)
    assert out.getvalue().startswith("replaying: 3/12 deliveries (25%)")


def test_nothing_is_written_when_no_work_began() -> None:
    out = StringIO()
    with Progress(out, "replaying", total=5, interval=0):
        pass
    assert out.getvalue() == ""


def test_on_a_terminal_it_draws_a_bar_with_the_count() -> None:
    screen = Terminal()
    with Progress(OutputWrapper(screen), "placing orders", total=4, unit="orders", interval=0) as progress:
        for _ in range(4):
            progress.advance(detail="confirmed 3")
    drawn = screen.getvalue()
    assert "placing orders" in drawn and "4/4" in drawn and "confirmed 3" in drawn
    assert "━" in drawn  # the bar
    assert "placing orders: " not in drawn  # not the plain lines
