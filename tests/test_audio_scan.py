"""Folder scans: natural order, hidden files, skipped files, streaming reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.scan import (
    iter_audio_48k,
    iter_source_files,
    natural_key,
    scan_audio,
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
