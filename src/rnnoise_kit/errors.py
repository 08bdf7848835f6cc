"""Exceptions that the command line turns into one-line messages and exit codes.

Every error a user can cause (a missing file, a corrupt model, NaN audio, a bad argument)
raises a subclass of :class:`RnnoiseKitError`; the CLI prints ``rnnoise-kit: <message>`` on
stderr and exits with code 2 (``--debug`` shows the traceback). Anything else is a bug.
"""

from __future__ import annotations

from os import PathLike
from typing import Generic, TypeVar


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


class SettingError(InputError):
    """A setting (an argument of the API, a key of a settings file) whose value cannot be used.

    The message is ``"<setting> <problem>"`` (``"jobs must be at least 1 (got 0)"``), after
    the path when one is given. ``setting`` is the name as the Python API spells it; a front
    end that calls it something else (the command line's ``--jobs``) rewords the message with
    :meth:`naming`.

    Parameters
    ----------
    setting : str
        The argument's name (``"jobs"``, ``"frames"``, ``"resume"``).
    problem : str
        What is wrong, completing a sentence that starts with the name.
    path : path-like, optional
        A file the problem concerns, named first.
    """

    def __init__(self, setting: str, problem: str, path: str | PathLike | None = None):
        self.setting = setting
        self.setting_problem = problem
        super().__init__(path, f"{setting} {problem}")

    def naming(self, name: str) -> str:
        """The message with the setting called ``name`` (``"--jobs must be ..."``)."""
        text = f"{name} {self.setting_problem}"
        return f"{self.path}: {text}" if self.path else text


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


ResultT = TypeVar("ResultT")


class PartialFailure(RnnoiseKitError, Generic[ResultT]):
    """A multi-file operation went through every input, but some failed (exit code 1; 2 when
    none was done).

    Raised after the inputs that worked were finished and their outputs written.

    Attributes
    ----------
    failures : dict of str to str
        Each failed input mapped to its one-line reason.
    done : int
        How many inputs succeeded.
    result : ResultT or None
        What the operation returns when nothing fails, for the inputs that succeeded (a
        :class:`~rnnoise_kit.evaluation.compare.CompareResult`, a
        :class:`~rnnoise_kit.denoise.DenoiseFilesResult`, ...), or None.
    """

    def __init__(self, failures: dict[str, str], done: int, result: ResultT | None = None):
        self.failures = dict(failures)
        self.done = done
        self.result = result
        if done:
            message = f"{len(self.failures)} input(s) failed, {done} done"
        else:
            message = f"no input could be processed ({len(self.failures)} failed)"
        super().__init__(message)


class TrainingDiverged(RnnoiseKitError):
    """Training produced a non-finite loss or weights; nothing of that epoch was saved.

    ``epoch`` is the 1-based epoch that diverged; the run folder keeps the checkpoint of
    the epoch before it (if any).
    """

    def __init__(self, epoch: int, problem: str):
        self.epoch = epoch
        super().__init__(problem)
