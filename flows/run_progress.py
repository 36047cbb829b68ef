"""Progress of a run's long steps: Prefect progress artifacts, and pinned bars on the terminal.

The command line opens the bars (only when standard output is a terminal, so a redirected
run still ends with its JSON line); the flow reports to whatever is open in its context.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_logger


class ProgressBars(Protocol):
    def show(self, step: str, done: int, total: int | None, description: str) -> None: ...


TERMINAL_BARS: ContextVar[ProgressBars | None] = ContextVar("birthrec_bars", default=None)


class RichBars:
    """One pinned rich bar per step, drawn on standard output above the log."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(file=sys.stdout), transient=False,
        )
        self.tasks: dict[str, object] = {}

    def show(self, step: str, done: int, total: int | None, description: str) -> None:
        task = self.tasks.get(step)
        if task is None:
            self.tasks[step] = self.progress.add_task(description, total=total, completed=done)
        else:
            self.progress.update(task, completed=done, total=total,  # type: ignore[arg-type]
                                 description=description)


@contextmanager
def terminal_progress(enabled: bool | None = None) -> Iterator[None]:
    """Pinned bars for the flow run inside, when standard output is a terminal."""
    if enabled is None:
        enabled = sys.stdout.isatty()
    if not enabled:
        yield
        return
    bars = RichBars()
    token = TERMINAL_BARS.set(bars)
    try:
        with bars.progress:
            yield
    finally:
        TERMINAL_BARS.reset(token)


class RunProgress:
    """A run's steps as Prefect progress artifacts (per run) and terminal bars.

    Reporting never fails a run: an artifact the API refuses is logged and skipped.
    """

    def __init__(self) -> None:
        self.artifacts: dict[str, UUID] = {}
        self.bars = TERMINAL_BARS.get()

    def update(self, step: str, done: int, total: int | None, description: str) -> None:
        percent = 100.0 * done / total if total else (100.0 if total == 0 else 0.0)
        if self.bars is not None:
            self.bars.show(step, done, total, description)
        try:
            artifact = self.artifacts.get(step)
            if artifact is None:
                self.artifacts[step] = create_progress_artifact(  # type: ignore[assignment]
                    percent, key=f"birthrec-{step}", description=description)
            else:
                update_progress_artifact(artifact, percent, description=description)
        except Exception as error:  # progress is a courtesy; the run goes on
            get_logger("birthrec.progress").debug("progress artifact %s not updated: %s",
                                                  step, error)
