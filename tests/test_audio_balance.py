"""``balance``: acceptance test (b), measures, clashes, links, dry run, CLI."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio import balance as balance_mod
from rnnoise_kit.audio.balance import balance
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError


def _wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * np.ones(int(round(seconds * rate))), rate)
    return path


def _make(root: Path, sizes: dict[str, list[float]]) -> None:
    for group, secs in sizes.items():
        for i, s in enumerate(secs):
            sub = "deep/er/" if i % 2 else ""
            _wav(root / group / f"{sub}f{i}.wav", s)


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture()
def root(tmp_path) -> Path:
    r = tmp_path / "root"
    _make(r, {"a": [1, 1, 1, 1], "b": [1, 1], "c": [1, 1, 1]})
    return r


def test_acceptance_by_count_2_2_2_same_seed_same_files(root, tmp_path):
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    r1 = balance(root, ["a", "b", "c"], tmp_path / "o1", by="count", seed=7)
    assert [len(g.chosen) for g in r1.groups] == [2, 2, 2]
    r2 = balance(root, ["a", "b", "c"], tmp_path / "o2", by="count", seed=7)
    t1, t2 = _tree(tmp_path / "o1"), _tree(tmp_path / "o2")
    assert t1 == t2
    assert len([t for t in t1 if t.endswith(".wav")]) == 6
    assert "balance.csv" in t1
    assert {t for t in t1 if t.startswith("b/")} == {"b/f0.wav", "b/deep/er/f1.wav"}
    assert [f.source for g in r1.groups for f in g.chosen] == \
        [f.source for g in r2.groups for f in g.chosen]
    # sources untouched
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    rows = list(csv.DictReader((tmp_path / "o1" / "balance.csv").open()))
    assert len(rows) == 6 and {r["group"] for r in rows} == {"a", "b", "c"}
    assert all((tmp_path / "o1" / r["file"]).is_file() for r in rows)


def test_different_seeds_can_differ(root, tmp_path):
    picks = set()
    for seed in range(8):
        r = balance(root, ["a", "b", "c"], tmp_path / "x", by="count", seed=seed, dry_run=True)
        picks.add(tuple(f.relative.as_posix() for f in r.groups[0].chosen))
    assert len(picks) > 1
    assert not (tmp_path / "x").exists()  # dry run writes nothing


def test_by_duration_is_default_and_by_bytes(tmp_path):
    root = tmp_path / "r"
    _make(root, {"big": [1, 1, 1, 1, 1, 1, 1, 1], "small": [2, 2]})
    r = balance(root, ["big", "small"], tmp_path / "o", seed=1)
    assert r.by == "duration"
    big, small = r.groups
    assert len(small.chosen) == 2
    assert abs(big.measure("duration", chosen=True) - 4.0) < 1e-6
    rb = balance(root, ["big", "small"], tmp_path / "ob", by="bytes", seed=1, dry_run=True)
    target = rb.groups[1].measure("bytes")
    got = rb.groups[0].measure("bytes", chosen=True)
    assert abs(got - target) <= max(f.bytes for f in rb.groups[0].files) / 2


def test_unreadable_skipped_and_listed(root, tmp_path, capsys):
    (root / "a" / "broken.wav").write_bytes(b"not audio at all")
    (root / "c" / "empty.flac").write_bytes(b"")
    code = main(["balance", str(root), "--folders", "a,b,c", "-o", str(tmp_path / "o"),
                 "--by", "count", "--seed", "3"])
    assert code == 0
    cap = capsys.readouterr()
    assert "broken.wav" in cap.err and "empty.flac" in cap.err
    assert "4 -> 2" in cap.out and "2 -> 2" in cap.out
    assert len(_tree(tmp_path / "o")) == 7


def test_name_clash_errors_out_and_writes_nothing(root, tmp_path):
    out = tmp_path / "o"
    # a stale file sits where every chosen file of group b would go
    for rel in ["b/f0.wav", "b/deep/er/f1.wav"]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists"):
        balance(root, ["a", "b", "c"], out, by="count", seed=0)
    assert _tree(out) == ["b/deep/er/f1.wav", "b/f0.wav"]
    assert (out / "b" / "f0.wav").read_bytes() == b"mine"
    assert main(["balance", str(root), "--folders", "a,b,c", "-o", str(out)]) == 2


def test_link_mode_and_fallback(root, tmp_path, monkeypatch):
    r = balance(root, ["a", "b", "c"], tmp_path / "l", by="count", link=True)
    f = r.groups[0].chosen[0]
    dest = tmp_path / "l" / "a" / f.relative
    assert os.path.samefile(dest, f.source)
    assert r.link_fallbacks == 0

    def no_link(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(balance_mod.os, "link", no_link)
    r = balance(root, ["a", "b", "c"], tmp_path / "l2", by="count", link=True)
    assert r.link_fallbacks == 6
    dest = tmp_path / "l2" / "a" / r.groups[0].chosen[0].relative
    assert not os.path.samefile(dest, r.groups[0].chosen[0].source)
    assert dest.read_bytes() == r.groups[0].chosen[0].source.read_bytes()


def test_bad_arguments(root, tmp_path):
    out = str(tmp_path / "o")
    assert main(["balance", str(root), "--folders", "a,zz", "-o", out]) == 2
    assert main(["balance", str(root), "--folders", "a", "-o", out]) == 2
    assert main(["balance", str(root), "--folders", "a,a", "-o", out]) == 2
    assert main(["balance", str(tmp_path / "nope"), "--folders", "a,b", "-o", out]) == 2
    (root / "a" / "b2").mkdir()
    assert main(["balance", str(root), "--folders", "a,a/b2", "-o", out]) == 2
    (root / "e").mkdir()
    assert main(["balance", str(root), "--folders", "a,e", "-o", out]) == 2
    assert main(["balance", str(root), "--folders", "a,b", "-o", str(root / "a" / "x")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["balance", str(root), "--folders", "a,b", "-o", out, "--copy", "--link"])
    assert exc.value.code == 2
    assert not Path(out).exists()


def test_cli_dry_run(root, tmp_path, capsys):
    assert main(["balance", str(root), "--folders", "a,b,c", "-o", str(tmp_path / "d"),
                 "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert not (tmp_path / "d").exists()


def test_duration_choice_lands_near_target():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rnnoise_kit.audio.balance import Group, GroupFile, _choose

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(0.1, 30.0), min_size=1, max_size=30), st.floats(0.1, 100.0),
           st.integers(0, 2**32 - 1))
    def check(durations, target, seed):
        g = Group("g", files=[GroupFile(Path(f"{i}.wav"), Path(f"{i}.wav"), d, 1)
                              for i, d in enumerate(durations)])
        picked = _choose(g, "duration", target, seed)
        assert picked == _choose(g, "duration", target, seed)
        assert picked
        total = sum(f.duration for f in picked)
        left = [d for f, d in zip(g.files, durations, strict=True) if f not in picked]
        if len(picked) == 1 and total > 2 * target:  # nothing fits: the first drawn file
            assert all(d > 2 * target for d in durations)
        elif total < target:  # every file left over would overshoot by more than the gap
            assert all(d > 2 * (target - total) for d in left)
        else:
            assert total - target <= target

    check()
