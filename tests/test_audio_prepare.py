"""``prepare``: acceptance test (a), manifest, preview, strict, parallel, interrupts, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio import prepare as prepare_mod
from rnnoise_kit.audio.prepare import prepare, preview_path
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError


def _tone(path: Path, seconds: float, rate: int, channels: int = 1, amp: float = 0.3,
          fmt: str | None = None, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * rate))) / rate
    x = amp * np.sin(2 * np.pi * 300 * t)
    sf.write(str(path), np.tile(x[:, None], (1, channels)), rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture()
def dataset(tmp_path) -> Path:
    """Nine 2 s 16 kHz stereo FLACs in nested folders plus one corrupt WAV."""
    root = tmp_path / "data"
    rels = ["a/1.flac", "a/2.flac", "a/10.flac", "a/b/3.flac", "a/b/c/4.flac",
            "d/5.flac", "d/6.flac", "7.flac", "8.flac"]
    for rel in rels:
        _tone(root / rel, 2.0, 16000, channels=2)
    (root / "a" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    return root


def _no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_acceptance_prepare_nine_flacs(dataset, tmp_path):
    out = tmp_path / "out" / "all.raw"
    man = tmp_path / "out" / "all.json"
    report = prepare([dataset], out, manifest=man, jobs=1)
    pcm = np.fromfile(out, dtype="<i2")
    assert pcm.size == 9 * 2 * 48000 == report.total_samples
    assert [s.path.name for s in report.skipped] == ["corrupt.wav"]
    data = json.loads(man.read_text())
    assert data["total_samples"] == 9 * 2 * 48000
    assert [Path(s["path"]).name for s in data["skipped"]] == ["corrupt.wav"]
    assert data["skipped"][0]["reason"]
    rels = [Path(f["path"]).relative_to(dataset).as_posix() for f in data["files"]]
    assert rels == ["7.flac", "8.flac", "a/1.flac", "a/2.flac", "a/10.flac", "a/b/3.flac",
                    "a/b/c/4.flac", "d/5.flac", "d/6.flac"]
    offsets = [f["offset"] for f in data["files"]]
    assert offsets == [i * 96000 for i in range(9)]
    assert all(abs(f["duration"] - 2.0) < 1e-9 for f in data["files"])
    # the sine survives mix-down and resampling at its level
    assert 0.28 * 32768 < np.abs(pcm[1000:-1000]).max() < 0.32 * 32768
    assert report.clipped == 0


def test_acceptance_interrupt_leaves_nothing(dataset, tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = {"n": 0}
    real = prepare_mod.read_audio

    def flaky(path):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(prepare_mod, "read_audio", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare([dataset], out_dir / "all.raw", manifest=out_dir / "all.json", preview=2)
    assert _no_leftovers(out_dir) == []


def test_cli_interrupt_exit_130_and_no_file(dataset, tmp_path, monkeypatch):
    def boom(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_mod, "read_audio", boom)
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    assert main(["prepare", str(dataset), "-o", str(out_dir / "x.raw"), "--jobs", "1"]) == 130
    assert _no_leftovers(out_dir) == []


def test_parallel_equals_serial(dataset, tmp_path):
    a = prepare([dataset], tmp_path / "a.raw", jobs=1)
    b = prepare([dataset], tmp_path / "b.raw", jobs=3)
    assert (tmp_path / "a.raw").read_bytes() == (tmp_path / "b.raw").read_bytes()
    assert [f.path for f in a.files] == [f.path for f in b.files]
    assert [s.path for s in a.skipped] == [s.path for s in b.skipped]


def test_preview_and_odd_rates_and_clipping(tmp_path):
    src = tmp_path / "src"
    _tone(src / "1.wav", 0.5, 44100)
    _tone(src / "2.ogg", 0.25, 22050, channels=2, fmt="OGG")
    _tone(src / "3.wav", 0.1, 48000, amp=1.5, subtype="FLOAT")  # float WAV past full scale
    (src / "4.raw").write_bytes(np.full(480, 1000, dtype="<i2").tobytes())
    out = tmp_path / "x.raw"
    r = prepare([src], out, preview=2)
    assert [f.path.name for f in r.files] == ["1.wav", "2.ogg", "3.wav", "4.raw"]
    assert [f.samples for f in r.files][:1] == [24000]
    assert abs(r.files[1].samples - 12000) <= 2
    assert r.files[1].source_rate == 22050 and r.files[1].channels == 2
    assert r.files[2].clipped > 0 and r.clipped == r.files[2].clipped
    assert r.preview == preview_path(out) == tmp_path / "x.preview.wav"
    info = sf.info(str(r.preview))
    assert info.samplerate == 48000 and info.channels == 1
    assert info.frames == r.files[0].samples + r.files[1].samples
    raw = np.fromfile(out, dtype="<i2")
    np.testing.assert_array_equal(raw[-480:], 1000)


def test_output_inside_source_is_not_read_back(tmp_path):
    src = tmp_path / "src"
    _tone(src / "1.wav", 0.1, 48000)
    (src / "all.raw").write_bytes(b"\x01\x00" * 100)  # stale output from a previous run
    r = prepare([src], src / "all.raw")
    assert [f.path.name for f in r.files] == ["1.wav"]
    assert (src / "all.raw").stat().st_size == 2 * 4800


def test_strict_and_nothing_usable(dataset, tmp_path):
    out = tmp_path / "s.raw"
    with pytest.raises(InputError, match="corrupt.wav"):
        prepare([dataset], out, strict=True)
    assert not out.exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"")
    (bad / "y.flac").write_bytes(b"not flac")
    with pytest.raises(InputError, match="no usable"):
        prepare([bad], out)
    assert not out.exists()


def test_strict_decode_failure_after_header(tmp_path, monkeypatch):
    src = tmp_path / "src"
    _tone(src / "1.wav", 0.1, 48000)
    _tone(src / "2.wav", 0.1, 48000)
    real = prepare_mod.read_audio

    def nan_second(path):
        audio, rate, sub = real(path)
        if Path(path).name == "2.wav":
            raise prepare_mod.InputError(path, "contains NaN or infinite samples")
        return audio, rate, sub

    monkeypatch.setattr(prepare_mod, "read_audio", nan_second)
    with pytest.raises(InputError, match="2.wav"):
        prepare([src], tmp_path / "o.raw", strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    r = prepare([src], tmp_path / "o.raw")
    assert [s.path.name for s in r.skipped] == ["2.wav"]


def test_cli_exit_codes(dataset, tmp_path, capsys):
    out = tmp_path / "c.raw"
    assert main(["prepare", str(dataset), "-o", str(out), "--manifest",
                 str(tmp_path / "c.json"), "-j", "2"]) == 0
    cap = capsys.readouterr()
    assert "corrupt.wav" in cap.err and "skipped" in cap.err
    assert "9 file(s)" in cap.out
    assert out.stat().st_size == 9 * 2 * 48000 * 2

    out2 = tmp_path / "strict.raw"
    assert main(["prepare", str(dataset), "-o", str(out2), "--strict"]) == 2
    assert not out2.exists()
    assert "corrupt.wav" in capsys.readouterr().err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prepare", str(empty), "-o", str(tmp_path / "e.raw")]) == 2
    assert main(["prepare", str(tmp_path / "missing"), "-o", str(tmp_path / "m.raw")]) == 2
    assert main(["prepare", str(dataset), "-o", str(tmp_path / "j.raw"), "-j", "0"]) == 2
    with pytest.raises(SystemExit) as exc:  # -o missing: argparse error
        main(["prepare", str(dataset)])
    assert exc.value.code == 2
    assert not (tmp_path / "e.raw").exists() and not (tmp_path / "j.raw").exists()


def test_to_int16_counting_clips_counts_exactly_the_clipped_samples():
    from hypothesis import given
    from hypothesis import strategies as st

    from rnnoise_kit.audio.prepare import to_int16_counting_clips

    @given(st.lists(st.floats(-2.0, 2.0), max_size=50))
    def check(values):
        x = np.array(values, dtype=np.float64)
        pcm, clipped = to_int16_counting_clips(x)
        assert pcm.dtype == np.int16
        exact = np.round(x * 32768)
        assert clipped == int(np.sum((exact > 32767) | (exact < -32768)))
        inside = (exact <= 32767) & (exact >= -32768)
        np.testing.assert_array_equal(pcm[inside], exact[inside])

    check()
