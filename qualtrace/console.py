"""What the CLI shows a person while it works: progress bars and spinners (`rich`), on
stderr, so that stdout keeps only results (`token create | tail -1`, JSON to pipe on)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Everything the CLI says to a person goes here; stdout is for results.
err = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """One line for the person at the terminal (stderr; markup off: paths are literal)."""
    err.print(message, markup=False, soft_wrap=True)


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner with the elapsed time, for work whose progress cannot be counted from
    outside (a rebuild, a verify): the person sees it is alive and for how long."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(what, total=None)
        try:
            yield
        finally:
            progress.update(task, total=1, completed=1)


class Bars:
    """One bar per phase, fed by `(phase, done, total)` reports (`qualtrace.demo.Progress`)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<17}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)
