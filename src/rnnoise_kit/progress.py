"""Progress bars for long work (rich), quiet when stderr is not a terminal or when disabled."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


def console() -> Console:
    """The stderr console every command reports through."""
    return _console


def _enabled() -> bool:
    return os.environ.get("RNNOISE_KIT_NO_PROGRESS", "") == "" and sys.stderr.isatty()


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None):
        self._progress, self._task = progress, task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, **fields) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **fields)


@contextlib.contextmanager
def progress_bar(total: float | None, description: str, unit: str = "",
                 enabled: bool = True) -> Iterator[_Bar]:
    """A rich progress bar on stderr; ``bar.advance(n)`` moves it.

    Shown only on a terminal (set ``RNNOISE_KIT_NO_PROGRESS=1`` to hide it there too), so
    logs and tests stay clean. With ``enabled=False`` (a caller's ``progress=False``) it is
    never shown, and ``advance``/``update`` do nothing.
    """
    if not (enabled and _enabled()):
        yield _Bar(None, None)
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if unit == "" else TaskProgressColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=_console, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)
