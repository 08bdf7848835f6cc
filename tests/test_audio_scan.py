"""Folder scans: natural order, hidden files, skipped files, folder links, streaming reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.scan import (
    iter_audio_48k,
    iter_source_files,
    natural_key,
    scan_audio,
    walk_source,
)
from rnnoise_kit.errors import InputError


def _wav(path: Path, seconds: float = 0.1, rate: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.tile(x[:, None], (1, channels)), rate)
    return path


def test_natural_key_orders_numbers_by_value():
    names = ["a10.wav", "a2.wav", "A1.wav", "b/1.wav", "a/3.wav"]
    assert sorted(names, key=natural_key) == ["a/3.wav", "A1.wav", "a2.wav", "a10.wav",
                                               "b/1.wav"]


def test_iter_source_files_recursive_natural_hidden(tmp_path):
    for rel in ["s10.wav", "s2.flac", "sub/s1.wav", ".hidden.wav", ".dir/x.wav", "notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    got = [p.relative_to(tmp_path).as_posix() for p in iter_source_files(tmp_path)]
    assert got == ["s2.flac", "s10.wav", "sub/s1.wav"]


def test_iter_source_files_single_file_and_missing(tmp_path):
    f = tmp_path / "odd.name"
    f.write_bytes(b"x")
    assert list(iter_source_files(f)) == [f]
    with pytest.raises(InputError, match="no such"):
        list(iter_source_files(tmp_path / "missing"))


def test_scan_audio_skips_corrupt_and_empty_and_dedupes(tmp_path):
    good = _wav(tmp_path / "1.wav")
    (tmp_path / "2.wav").write_bytes(b"RIFF nonsense")
    (tmp_path / "3.raw").write_bytes(b"")
    files, skipped = scan_audio([tmp_path, good])
    assert files == [good]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"2.wav", "3.raw"}
    assert "no samples" in reasons["3.raw"]
    files, skipped = scan_audio([tmp_path], exclude=[good])
    assert files == []


def test_iter_audio_48k_streams_float32_int16_scale(tmp_path):
    _wav(tmp_path / "a.wav", seconds=0.5, rate=16000, channels=2)
    (tmp_path / "b.wav").write_bytes(b"garbage")
    skipped = []
    out = list(iter_audio_48k([tmp_path], skipped=skipped))
    assert len(out) == 1
    path, audio = out[0]
    assert audio.dtype == np.float32 and audio.size == 24000
    assert 0.25 * 32768 < np.abs(audio).max() < 0.35 * 32768
    assert [s.path.name for s in skipped] == ["b.wav"]


# --------------------------------------------------------------------------- folder links


@pytest.fixture()
def looped(tmp_path) -> Path:
    """``data/speech`` (3 files) beside ``data/noise`` (2 files); speech holds a link back to
    its parent (``loop -> ..``), one to itself (``self -> .``), one to a sibling folder outside
    it and one inside it to its own sub-folder."""
    data = tmp_path / "data"
    for rel in ["speech/1.wav", "speech/2.wav", "speech/sub/3.wav", "noise/n1.wav",
                "noise/n2.wav"]:
        _wav(data / rel)
    speech = data / "speech"
    os.symlink("..", speech / "loop")
    os.symlink(".", speech / "self")
    os.symlink("../noise", speech / "noise_link")
    os.symlink("sub", speech / "sub_again")
    return data


def test_folder_links_never_loop_or_leave_the_source(looped):
    speech = looped / "speech"
    files, skipped = walk_source(speech)
    assert [p.relative_to(speech).as_posix() for p in files] == ["1.wav", "2.wav",
                                                                  "sub/3.wav"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"loop", "self", "noise_link", "sub_again"}
    assert "outside" in reasons["loop"] and "outside" in reasons["noise_link"]
    assert "loops back" in reasons["self"]
    assert "scanned already" in reasons["sub_again"]
    # the public helpers list the same links instead of dropping them silently
    left_out: list = []
    assert list(iter_source_files(speech, skipped=left_out)) == files
    assert sorted(s.path.name for s in left_out) == sorted(reasons)
    got, skipped = scan_audio([speech])
    assert got == files and sorted(s.path.name for s in skipped) == sorted(reasons)


def test_link_inside_the_source_is_followed_once(tmp_path):
    src = tmp_path / "src"
    _wav(src / ".store" / "a.wav")  # hidden: reached only through the link
    os.symlink(".store", src / "visible")
    files, skipped = walk_source(src)
    assert [p.relative_to(src).as_posix() for p in files] == ["visible/a.wav"]
    assert skipped == []


def test_two_groups_linked_to_each_other_terminate(tmp_path):
    # balance's report: two groups each linking to the other hung for minutes
    root = tmp_path / "root"
    _wav(root / "a" / "x.wav")
    _wav(root / "b" / "y.wav")
    os.symlink("../b", root / "a" / "to_b")
    os.symlink("../a", root / "b" / "to_a")
    files, skipped = walk_source(root)
    assert [p.relative_to(root).as_posix() for p in files] == ["a/x.wav", "b/y.wav"]
    assert {s.path.name for s in skipped} == {"to_a", "to_b"}


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can list any folder")
def test_unreadable_folder_is_listed(tmp_path):
    _wav(tmp_path / "ok.wav")
    locked = tmp_path / "locked"
    _wav(locked / "x.wav")
    locked.chmod(0)
    try:
        files, skipped = walk_source(tmp_path)
    finally:
        locked.chmod(0o755)
    assert [p.name for p in files] == ["ok.wav"]
    assert [s.path for s in skipped] == [locked] and "cannot list" in skipped[0].reason


def test_every_folder_reader_uses_the_safe_walk(looped, tmp_path):
    """prepare, balance, the training sources, compare's inputs and the pipeline split."""
    from rnnoise_kit.audio.balance import balance
    from rnnoise_kit.audio.prepare import prepare
    from rnnoise_kit.evaluation.compare import find_inputs
    from rnnoise_kit.pipeline import PipelineConfig, _split
    from rnnoise_kit.training.sources import open_source

    speech = looped / "speech"
    r = prepare([speech], tmp_path / "s.raw")
    # 3 speech files only: prepare once followed loop -> .. and pulled the noise in
    assert len(r.files) == 3
    assert {s.path.name for s in r.skipped} == {"loop", "self", "noise_link", "sub_again"}

    b = balance(looped, ["speech", "noise"], tmp_path / "bal", by="count")
    assert [len(g.files) for g in b.groups] == [3, 2]
    assert sum(1 for p in (tmp_path / "bal").rglob("*.wav")) == 4
    assert {s.path.name for s in b.skipped} == {"loop", "self", "noise_link", "sub_again"}

    src = open_source(speech)
    assert len(src.entries) == 3 and len(src.skipped) == 4

    listed: list = []
    assert len(find_inputs(noisy=speech, skipped=listed)) == 3
    assert len(listed) == 4

    split = tmp_path / "split.json"
    _split(PipelineConfig(speech=[str(speech)], noise=[str(looped / "noise")]), split)
    record = json.loads(split.read_text())
    assert len(record["train"]["speech"]) + len(record["test"]["speech"]) == 3
    assert len(record["skipped"]) == 4


def test_links_into_one_hidden_tree_take_each_file_once(tmp_path):
    src = tmp_path / "src"
    _wav(src / ".store" / "top.wav")
    _wav(src / ".store" / "sub" / "deep.wav")
    os.symlink(".store/sub", src / "a_sub")  # reached first (path order), then its parent
    os.symlink(".store", src / "b_store")
    files, skipped = walk_source(src)
    assert [p.relative_to(src).as_posix() for p in files] == ["a_sub/deep.wav",
                                                              "b_store/top.wav"]
    assert skipped == []
