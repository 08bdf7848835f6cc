"""Declarative settings checks (``rnnoise_kit.settings``) and room checks (``capacity``)."""

from __future__ import annotations

import pytest

from rnnoise_kit import capacity
from rnnoise_kit.errors import InputError, OutputError
from rnnoise_kit.settings import Rule, check_settings


@pytest.mark.parametrize(("rule", "value", "want"), [
    (Rule(int, minimum=1), 3, 3),
    (Rule(int, minimum=1), 5e5, 500_000),  # TOML's 5e5 is a float: taken when whole
    (Rule(float, above=0), 2, 2.0),
    (Rule(str, choices=("a", "b")), "b", "b"),
    (Rule(list), "one/path", ["one/path"]),  # a lone string is one item, not its letters
    (Rule(list, separator=",", length=3), "a, b,c", ["a", "b", "c"]),
    (Rule(str, optional=True), None, None),
])
def test_rules_accept_and_normalise(rule, value, want):
    got = rule.normalise(value)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(("rule", "value"), [
    (Rule(int), True),  # bool is an int to Python, not to a user
    (Rule(int), 2.5),
    (Rule(int), "2"),
    (Rule(int, minimum=1), 0),
    (Rule(float), float("inf")),
    (Rule(float), float("nan")),
    (Rule(float, above=0, below=1), 1.0),
    (Rule(float, minimum=0, maximum=0.5), 0.6),
    (Rule(str), 3),
    (Rule(str, choices=("a",)), "b"),
    (Rule(list), [1, 2]),
    (Rule(list), ["", "x"]),
    (Rule(list, length=3, separator=","), "a,b"),
    (Rule(list, choices=("x", "y")), ["x", "z"]),
    (Rule(str), None),
    (Rule(str, check=lambda v: None if v.isdigit() else "digits"), "12a"),
])
def test_rules_refuse(rule, value):
    with pytest.raises(ValueError):
        rule.normalise(value)


def test_messages_name_the_file_the_key_and_the_value():
    rules = {"epochs": Rule(int, minimum=0), "mode": Rule(str, choices=("a", "b"))}
    with pytest.raises(InputError) as info:
        check_settings({"epochs": "two"}, rules, source="run.toml")
    assert str(info.value) == "run.toml: epochs must be an integer >= 0 (got 'two')"
    with pytest.raises(InputError, match=r"^mode must be a string \(one of a, b\) \(got 'c'\)$"):
        check_settings({"mode": "c"}, rules)
    with pytest.raises(InputError, match="unknown setting 'epoch'"):
        check_settings({"epoch": 1}, rules, source="run.toml")
    assert check_settings({"epochs": 2.0}, rules) == {"epochs": 2}


def test_room_checks_name_the_size(tmp_path, monkeypatch):
    assert capacity.format_bytes(1536) == "1.5 KiB"
    assert capacity.format_bytes(3 << 50) == "3.0 PiB"
    assert capacity.free_disk(tmp_path / "not" / "yet" / "made.f32") > 0
    monkeypatch.setattr(capacity, "free_disk", lambda path: 1 << 20)
    capacity.check_disk(tmp_path / "x", 1 << 19, "half a MiB")
    with pytest.raises(OutputError, match=r"x: 2 MiB would take 2\.0 MiB, more than the 1\.0 MiB"):
        capacity.check_disk(tmp_path / "x", 2 << 20, "2 MiB")
    monkeypatch.setattr(capacity, "available_memory", lambda: 1 << 30)
    capacity.check_memory(1 << 29, "half")
    with pytest.raises(InputError, match=r"need about 2\.0 GiB of memory, more than the 1\.0"):
        capacity.check_memory(2 << 30, "twice")
