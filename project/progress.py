"""How far a long management command got: a bar on a terminal, a plain line every few seconds otherwise.

A command that works through many things (replays, rebuilds, waiting for orders to end) wraps the
work in ``with Progress(self.stdout, "replaying", total=n, unit="deliveries") as progress:`` and
calls ``progress.update(done)`` (or ``advance()``) as it goes, with an optional ``detail`` (for
example "confirmed 12, failed 3"). On a terminal it draws a ``rich`` progress bar (count, rate,
elapsed and remaining time); when stdout is a pipe, a file or a log collector, it writes one line
at most every ``PROGRESS_LINE_INTERVAL`` seconds (a setting, 5 by default) and a last one when the
work ends, so a log shows the command is alive and how fast it goes::

    replaying notifications.recipients: 1200/5000 deliveries (24%), 236.4/s, 5s elapsed

Both go to the command's stdout; what the command prints itself (its summary) follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.management.base import OutputWrapper
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class _Output(Protocol):
    """What a command's ``self.stdout`` (Django's OutputWrapper) or a plain text stream offers."""

    def write(self, msg: str, /) -> Any: ...


class Progress:
    """Reports progress towards ``total`` (None: unknown) to ``out``, as a bar on a TTY or lines otherwise."""

    def __init__(
        self,
        out: _Output,
        description: str,
        *,
        total: int | None,
        unit: str = "",
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0
        self.detail = ""
        self._out = out
        self._clock = clock
        self._interval = settings.PROGRESS_LINE_INTERVAL if interval is None else interval
        self._started = self._last_line = clock()
        self._started_reporting = False  # the bar is drawn, and the last line written, once work began
        self._bar: RichProgress | None = None
        self._task: Any = None
        stream = _stream_of(out)
        if stream is not None and _is_tty(stream):
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[unit]}"),
                TextColumn("[progress.data.speed]{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=stream),
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._started_reporting:
            return  # nothing was done (a dry run, a refusal): nothing to report
        if self._bar is not None:
            self._refresh_bar()
            self._bar.stop()  # leaves the last state of the bar on the screen
        else:
            self._write_line(interrupted=exc_type is not None)

    def advance(self, steps: int = 1, *, detail: str | None = None) -> None:
        self.update(self.completed + steps, detail=detail)

    def update(self, completed: int, *, total: int | None = None, detail: str | None = None) -> None:
        """Record that ``completed`` items are done (of ``total``, when it is known only now)."""
        self.completed = completed
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        if not self._started_reporting:
            self._started_reporting = True
            if self._bar is not None:
                self._bar.start()
                self._task = self._bar.add_task(self.description, total=self.total, unit=self.unit, rate="", detail="")
        if self._bar is not None:
            self._refresh_bar()
        elif self._clock() - self._last_line >= self._interval:
            self._write_line()

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        elapsed = self._clock() - self._started
        return self.completed / elapsed if elapsed > 0 else 0.0

    def line(self, *, interrupted: bool = False) -> str:
        """The plain line for the current state (what a non-terminal stdout gets)."""
        count = f"{self.completed}/{self.total}" if self.total is not None else str(self.completed)
        parts = [f"{self.description}: {count}{f' {self.unit}' if self.unit else ''}"]
        if self.total:
            parts[0] += f" ({100 * self.completed // self.total}%)"
        parts.append(f"{self.rate:.1f}/s")
        parts.append(f"{self._clock() - self._started:.0f}s elapsed")
        if self.detail:
            parts.append(self.detail)
        if interrupted:
            parts.append("stopped")
        return ", ".join(parts)

    def _write_line(self, *, interrupted: bool = False) -> None:
        self._last_line = self._clock()
        text = self.line(interrupted=interrupted)
        # OutputWrapper ends each write with a newline; a bare stream does not.
        self._out.write(text if isinstance(self._out, OutputWrapper) else f"{text}\n")

    def _refresh_bar(self) -> None:
        assert self._bar is not None
        self._bar.update(
            self._task,
            total=self.total,
            completed=self.completed,
            rate=f"{self.rate:.1f}/s",
            detail=self.detail,
            refresh=False,
        )


def _stream_of(out: _Output) -> IO[str] | None:
    # Django's OutputWrapper keeps the real stream in ``_out``; rich must write to that one.
    stream = getattr(out, "_out", out)
    return stream if hasattr(stream, "write") else None


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
