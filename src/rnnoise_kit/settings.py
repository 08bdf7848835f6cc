"""Declarative checks of settings: each key's type and range, checked when a value is read.

A :class:`Rule` says what one setting accepts; :func:`check_settings` checks a mapping of
values against a table of rules and returns them normalised (an integral float such as
``5e5`` becomes an int, a lone string becomes a one-item list), or raises
:class:`~rnnoise_kit.errors.InputError` naming the file (when the values came from one), the
key, what it accepts and what it got, before any work starts (a
:class:`~rnnoise_kit.errors.SettingError` for values given in code, which a front end may
reword with its own names).

>>> check_settings({"epochs": "two"}, {"epochs": Rule(int, minimum=0)}, source="run.toml")
Traceback (most recent call last):
...
rnnoise_kit.errors.InputError: run.toml: epochs must be an integer >= 0 (got 'two')
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rnnoise_kit.errors import InputError, SettingError

_KIND_NAMES = {int: "an integer", float: "a finite number", str: "a string",
               list: "a string or a list of strings"}


@dataclass(frozen=True)
class Rule:
    """What one setting accepts.

    Attributes
    ----------
    kind : {int, float, str, list}
        ``int``: a whole number (an integral float such as ``5e5`` is taken, ``True`` is not);
        ``float``: a finite number; ``str``: a string; ``list``: a list of strings, or one
        string (split at ``separator`` when one is given, else taken as a one-item list).
    minimum, maximum : float, optional
        Inclusive bounds of a number.
    above, below : float, optional
        Exclusive bounds of a number.
    choices : tuple of str
        Allowed strings (each item, for a list).
    length : int, optional
        Required number of items of a list.
    separator : str, optional
        ``list`` only: a string is split at it (``"tanh,relu,tanh"``).
    optional : bool
        ``None`` (a key left unset) is accepted.
    check : callable, optional
        Further check of the normalised value: returns what the value must be (a few words,
        completing "KEY must be ...") when it does not fit, or None.
    """

    kind: type
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[str, ...] = ()
    length: int | None = None
    separator: str | None = None
    optional: bool = False
    check: Callable[[Any], str | None] | None = None

    def expects(self) -> str:
        """What the rule accepts, in words (``"an integer >= 1"``)."""
        text = _KIND_NAMES[self.kind]
        if self.length is not None:
            text = f"a list of {self.length} names" if self.kind is list else text
        bounds = [f">= {_num(self.minimum)}" if self.minimum is not None else "",
                  f"> {_num(self.above)}" if self.above is not None else "",
                  f"< {_num(self.below)}" if self.below is not None else "",
                  f"<= {_num(self.maximum)}" if self.maximum is not None else ""]
        bounds = [b for b in bounds if b]
        if bounds:
            text += " " + " and ".join(bounds)
        if self.choices:
            text += f" ({'each ' if self.kind is list else ''}one of {', '.join(self.choices)})"
        return text

    def normalise(self, value: Any) -> Any:
        """The value in its normal form; ValueError (what was expected) when it does not fit."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(self.expects())
        if self.kind is int:
            value = _whole(value)
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(self.expects())
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(self.expects())
        elif self.kind is str:
            if not isinstance(value, str):
                raise ValueError(self.expects())
        elif self.kind is list:
            value = self._items(value)
        if self.kind in (int, float) and not self._in_range(value):
            raise ValueError(self.expects())
        items = value if self.kind is list else [value]
        if self.choices and any(v not in self.choices for v in items):
            raise ValueError(self.expects())
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ValueError(problem)
        return value

    def _items(self, value: Any) -> list[str]:
        if isinstance(value, str):
            value = (value.replace(" ", "").split(self.separator) if self.separator
                     else [value])
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(self.expects())
        if any(not v for v in value) or (self.length is not None and len(value) != self.length):
            raise ValueError(self.expects())
        return list(value)

    def _in_range(self, x: float) -> bool:
        return ((self.minimum is None or x >= self.minimum)
                and (self.maximum is None or x <= self.maximum)
                and (self.above is None or x > self.above)
                and (self.below is None or x < self.below))


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise ValueError


def _num(x: float) -> str:
    return f"{x:g}"


def check_settings(
    values: Mapping[str, Any],
    rules: Mapping[str, Rule],
    source: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Check ``values`` against ``rules``; return them normalised.

    Parameters
    ----------
    values : mapping
        Settings by key; keys without a rule are refused.
    rules : mapping of str to Rule
    source : path-like, optional
        The file the values were read from, named first in the message.

    Returns
    -------
    dict

    Raises
    ------
    InputError
        ``"<source>: <key> must be <what the rule accepts> (got <value>)"`` for the first
        value of a file that does not fit, or ``"unknown setting '<key>'"``.
    SettingError
        The same for a value given in code (no ``source``): a front end may reword it with
        its own name for the setting (the command line's ``--epochs``).
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        rule = rules.get(key)
        if rule is None:
            raise InputError(source, f"unknown setting {key!r} (known: {', '.join(rules)})")
        try:
            out[key] = rule.normalise(value)
        except ValueError as exc:
            problem = f"must be {str(exc) or rule.expects()} (got {value!r})"
            if source is not None:  # a key of that file, whatever a front end calls it
                raise InputError(source, f"{key} {problem}") from None
            raise SettingError(key, problem) from None
    return out
