"""Exceptions that the command line turns into one-line messages and exit codes.

Every error a user can cause (a missing file, a corrupt model, NaN audio, a bad argument)
raises a subclass of :class:`RnnoiseKitError`; the CLI prints ``rnnoise-kit: <message>`` on
stderr and exits with code 2 (``--debug`` shows the traceback). Anything else is a bug.
"""

from __future__ import annotations

from os import PathLike


class RnnoiseKitError(Exception):
    """Base class of every user-facing error. The message is one line."""


class InputError(RnnoiseKitError):
    """Unusable input: missing, unreadable, empty, too short, or non-finite data.

    Parameters
    ----------
    path : path-like or None
        The offending file, named first in the message when given.
    problem : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path: str | PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class AudioError(InputError):
    """An audio file that cannot be used (missing, not audio, empty, NaN/inf samples)."""


class ModelFormatError(InputError):
    """A model file that cannot be parsed or does not fit the RNNoise v0.1 topology.

    ``place`` says where in the file the problem is (a layer, a token index, a line).
    """

    def __init__(self, path: str | PathLike | None, problem: str, place: str | None = None):
        self.place = place
        super().__init__(path, f"{place}: {problem}" if place else problem)


class OutputError(RnnoiseKitError):
    """An output that cannot be written, or must not be: it would replace one of the inputs
    or another output of the same call, its suffix does not match what is written, its folder
    is read-only, missing or a file, or the disk is full.

    The message names the user's path, never the hidden temporary file written first.

    Parameters
    ----------
    path : path-like or None
        The output the user asked for.
    problem : str
        What stops it, in a few words.
    """

    def __init__(self, path: str | PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class PartialFailure(RnnoiseKitError):
    """A multi-file command finished, but some inputs failed (exit code 1).

    ``failures`` maps each failed input to its one-line reason.
    """

    def __init__(self, failures: dict[str, str], done: int):
        self.failures = dict(failures)
        self.done = done
        super().__init__(f"{len(self.failures)} input(s) failed, {done} done")
