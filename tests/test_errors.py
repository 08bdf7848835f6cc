"""The library's errors: typed, one line, in the library's own terms (cli.py alone speaks of
command-line options)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rnnoise_kit.errors import InputError, PartialFailure, SettingError

SRC = Path(__file__).parents[1] / "src" / "rnnoise_kit"
FLAG = re.compile(r"(^|[\s(`'\"])--[a-z]")


def _raised_texts(tree: ast.AST):
    """The string pieces of every ``raise`` statement (f-strings' literal parts included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield node.lineno, sub.value


def test_no_library_error_names_a_command_line_option():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "cli.py":
            continue
        for line, text in _raised_texts(ast.parse(path.read_text(), str(path))):
            if FLAG.search(text):
                found.append(f"{path.relative_to(SRC)}:{line}: {text!r}")
    assert found == []


def test_the_scan_sees_a_flag_in_a_raise():
    tree = ast.parse('raise InputError(None, f"--jobs must be at least 1 (got {jobs})")')
    flagged = [t for _, t in _raised_texts(tree) if FLAG.search(t)]
    assert flagged == ["--jobs must be at least 1 (got "]


def test_setting_error_is_an_input_error_reworded_by_name():
    err = SettingError("jobs", "must be at least 1 (got 0)")
    assert isinstance(err, InputError)
    assert str(err) == "jobs must be at least 1 (got 0)" and err.setting == "jobs"
    assert err.naming("--jobs") == "--jobs must be at least 1 (got 0)"
    with_path = SettingError("resume", "is needed", path="run")
    assert str(with_path) == "run: resume is needed" and with_path.path == "run"
    assert with_path.naming("--resume") == "run: --resume is needed"


def test_partial_failure_carries_the_result():
    exc = PartialFailure({"a.wav": "not audio"}, done=2, result=["b", "c"])
    assert exc.result == ["b", "c"] and exc.done == 2
    assert str(exc) == "1 input(s) failed, 2 done"
    none_done = PartialFailure({"a": "x", "b": "y"}, done=0)
    assert none_done.result is None
    assert str(none_done) == "no input could be processed (2 failed)"
    with pytest.raises(PartialFailure):
        raise none_done
