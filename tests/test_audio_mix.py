"""``mix``: acceptance test (c), determinism, clipping, skipped sources, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.mix import (
    PEAK_LIMIT,
    active_power,
    measure_level,
    measure_snr,
    mix,
)
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError, OutputError


def _speech(path: Path, seconds: float, rate: int, seed: int, channels: int = 1) -> Path:
    """Bursty 'speech': tone bursts with silent gaps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    env = (np.sin(2 * np.pi * 2 * t + seed) > 0).astype(float)
    x = 0.2 * env * np.sin(2 * np.pi * (200 + 50 * seed) * t)
    sf.write(str(path), np.tile(x[:, None], (1, channels)), rate)
    return path


def _noise(path: Path, seconds: float, rate: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.05 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(str(path), x, rate)
    return path


@pytest.fixture()
def sources(tmp_path) -> tuple[Path, Path]:
    sp, no = tmp_path / "speech", tmp_path / "noise"
    _speech(sp / "s1.wav", 1.5, 16000, 0)
    _speech(sp / "sub" / "s2.flac", 0.7, 44100, 1, channels=2)
    _noise(no / "n1.wav", 0.6, 22050, 0)
    _noise(no / "n2.flac", 3.0, 48000, 1)
    (no / "bad.wav").write_bytes(b"RIFFxxxxWAVE")
    return sp, no


def _read_int(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="int16")
    assert rate == 48000 and x.ndim == 1
    return x.astype(np.int64)


def test_active_power_rule():
    x = np.zeros(960 * 10)
    x[:960 * 2] = 0.5  # two active frames at 0.25 mean square
    x[960 * 2: 960 * 3] = 0.001  # -54 dB below: inactive
    assert active_power(x) == pytest.approx(0.25)
    assert active_power(np.zeros(2000)) == 0.0
    assert measure_level(np.full(960, 0.1)) == pytest.approx(-20.0)
    assert measure_snr(x, np.full(100, 0.05)) == pytest.approx(20.0)


def test_acceptance_mix_three_triplets_snr_matches_csv(sources, tmp_path):
    sp, no = sources
    out = tmp_path / "set"
    report = mix([sp], [no], out, count=3, seconds=2.0, seed=5)
    assert [s.path.name for s in report.skipped] == ["bad.wav"]
    rows = list(csv.DictReader((out / "mix.csv").open()))
    assert len(rows) == 3
    names = sorted(p.name for p in (out / "clean").iterdir())
    assert names == sorted(p.name for p in (out / "noise").iterdir())
    assert names == sorted(p.name for p in (out / "noisy").iterdir())
    assert names == [r["file"] for r in rows]
    for row in rows:
        clean = _read_int(out / "clean" / row["file"])
        noise = _read_int(out / "noise" / row["file"])
        noisy = _read_int(out / "noisy" / row["file"])
        assert clean.size == noise.size == noisy.size == 96000
        np.testing.assert_array_equal(noisy, clean + noise)
        snr = measure_snr(clean, noise)
        assert abs(snr - float(row["snr_db"])) < 0.5
        assert abs(snr - float(row["target_snr_db"])) < 0.5
        assert 0.0 - 0.5 <= snr <= 20.0 + 0.5
        level = measure_level(clean / 32768)
        assert abs(level - float(row["level_dbfs"])) < 0.5
        assert -35.5 <= level <= -14.5
        assert row["speech_sources"] and row["noise_sources"]
        assert "bad.wav" not in row["noise_sources"]


def test_same_seed_same_files(sources, tmp_path):
    sp, no = sources
    mix([sp], [no], tmp_path / "a", count=2, seconds=1.0, seed=3)
    mix([sp], [no], tmp_path / "b", count=2, seconds=1.0, seed=3)
    mix([sp], [no], tmp_path / "c", count=2, seconds=1.0, seed=4)
    for kind in ("clean", "noise", "noisy"):
        for name in ("mix_0001.wav", "mix_0002.wav"):
            a = (tmp_path / "a" / kind / name).read_bytes()
            assert a == (tmp_path / "b" / kind / name).read_bytes()
    assert (tmp_path / "a" / "mix.csv").read_text() == (tmp_path / "b" / "mix.csv").read_text()
    assert (tmp_path / "a" / "noisy" / "mix_0001.wav").read_bytes() != \
        (tmp_path / "c" / "noisy" / "mix_0001.wav").read_bytes()


def test_loud_settings_scale_down_instead_of_clipping(sources, tmp_path):
    sp, no = sources
    out = tmp_path / "loud"
    report = mix([sp], [no], out, count=2, seconds=1.0, snr="-5:-5", level="-3:-3", seed=0)
    for item in report.items:
        assert item.gain < 0
        assert abs(item.snr - (-5)) < 0.5
        noisy = _read_int(out / "noisy" / f"{item.name}.wav")
        assert np.abs(noisy).max() <= PEAK_LIMIT * 32768 + 2


def test_short_sources_loop(tmp_path):
    _speech(tmp_path / "s.wav", 0.3, 48000, 0)
    _noise(tmp_path / "n.wav", 0.1, 48000, 0)
    r = mix([tmp_path / "s.wav"], [tmp_path / "n.wav"], tmp_path / "o", count=1, seconds=1.0)
    assert len(r.items[0].speech) >= 4 and len(r.items[0].noise) == 10


def test_errors(sources, tmp_path):
    sp, no = sources
    bad = tmp_path / "onlybad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"junk")
    with pytest.raises(InputError, match="no usable noise"):
        mix([sp], [bad], tmp_path / "o1", count=1, seconds=1.0)
    with pytest.raises(InputError, match="LO:HI"):
        mix([sp], [no], tmp_path / "o2", count=1, snr="3:1")
    nonempty = tmp_path / "full"
    nonempty.mkdir()
    (nonempty / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="empty folder"):
        mix([sp], [no], nonempty, count=1, seconds=1.0)
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(48000), 48000)
    with pytest.raises(InputError, match="silent"):
        mix([silent], [no], tmp_path / "o3", count=1, seconds=0.5)


def test_cli(sources, tmp_path, capsys):
    sp, no = sources
    out = tmp_path / "cli"
    code = main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(out), "--count",
                 "2", "--seconds", "0.5", "--snr", "5:10", "--level", "-30:-20", "--seed", "1"])
    assert code == 0
    cap = capsys.readouterr()
    assert "bad.wav" in cap.err
    rows = list(csv.DictReader((out / "mix.csv").open()))
    assert all(-30.5 <= float(r["level_dbfs"]) <= -19.5 for r in rows)
    assert main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(tmp_path / "x"),
                 "--count", "0"]) == 2
    assert main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(tmp_path / "y"),
                 "--count", "1", "--snr", "a:b"]) == 2
    assert main(["mix", "--speech", str(tmp_path / "nope"), "--noise", str(no), "-o",
                 str(tmp_path / "z"), "--count", "1"]) == 2


def test_dropped_files_are_named_even_when_mix_fails(tmp_path, capsys):
    """Files that pass the header check but cannot be decoded are listed with the reason."""
    speech = tmp_path / "speech"
    speech.mkdir()
    x = np.full(24000, 0.1, np.float32)
    x[10] = np.nan
    sf.write(str(speech / "nan.wav"), x, 48000, subtype="FLOAT")
    noise = _noise(tmp_path / "noise" / "n.wav", 1.0, 48000, 0)
    with pytest.raises(InputError, match=r"nan\.wav: contains NaN or infinite samples"):
        mix([speech], [noise], tmp_path / "o", count=2, seconds=0.5)
    assert main(["mix", "--speech", str(speech), "--noise", str(noise), "-o",
                 str(tmp_path / "o2"), "--count", "2", "--seconds", "0.5"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nan.wav" in err
    _speech(speech / "ok.wav", 1.0, 48000, 0)  # with a usable file too: exit 0, still listed
    assert main(["mix", "--speech", str(speech), "--noise", str(noise), "-o",
                 str(tmp_path / "o3"), "--count", "6", "--seconds", "0.5"]) == 0
    assert "skipped" in capsys.readouterr().err


def test_silent_sources_are_named(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(48000), 48000)
    noise = _noise(tmp_path / "n.wav", 1.0, 48000, 0)
    with pytest.raises(InputError, match=r"silent: .*silent\.wav"):
        mix([silent], [noise], tmp_path / "o", count=1, seconds=0.5)


def test_sizes_beyond_memory_or_disk_are_refused_up_front(sources, tmp_path, capsys):
    sp, no = sources
    out = tmp_path / "o"
    with pytest.raises(InputError, match=r"1e\+09 s clip would need about 2\.7 PiB of memory"):
        mix([sp], [no], out, count=1, seconds=1e9)
    assert not out.exists()
    # 10 s clips fit in memory; 10**8 triplets of them (262 TiB) do not fit on the disk
    with pytest.raises(OutputError, match=r"would take 261\.9 TiB, more than the .* free"):
        mix([sp], [no], out, count=10**8, seconds=10)
    assert not out.exists()
    assert main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(out), "--count",
                 "1", "--seconds", "1e9"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "PiB" in err and not out.exists()


# --------------------------------------------------------------------------- --reverb


def _rir(path: Path, peak_at: int = 100, seed: int = 0) -> np.ndarray:
    """A response with pre-delay (silence before its direct path) and a decaying tail."""
    rng = np.random.default_rng(seed)
    h = np.zeros(6000)
    h[peak_at] = 0.9
    tail = np.arange(h.size - peak_at - 1)
    h[peak_at + 1:] = 0.2 * rng.standard_normal(tail.size) * np.exp(-tail / 800)
    sf.write(str(path), h, 48000, subtype="FLOAT")
    return h


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "mix.csv").open()))


def _fixed_columns(rows: list[dict]) -> list[list[str]]:
    """What a reverberant set shares with the dry set of the same seed: files, sources, targets."""
    keys = ("file", "target_snr_db", "target_level_dbfs", "speech_sources", "noise_sources")
    return [[r[k] for k in keys] for r in rows]


def test_reverb_clean_is_early_convolved_speech(tmp_path):
    """clean = speech * early_response(rir), noisy - noise = speech * rir, one common scale."""
    from scipy.signal import fftconvolve

    from rnnoise_kit.audio.rir import RIR_LEAD, early_response

    n = 24000
    speech_int = np.round(
        8000 * np.sin(2 * np.pi * 230 * np.arange(n) / 48000)
        * (np.sin(2 * np.pi * 3 * np.arange(n) / 48000) > 0)).astype(np.int16)
    sf.write(str(tmp_path / "s.wav"), speech_int, 48000, subtype="PCM_16")
    noise = _noise(tmp_path / "n.wav", 1.0, 48000, 0)
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    h = _rir(rirs / "room.wav", peak_at=100)
    out = tmp_path / "rev"
    report = mix([tmp_path / "s.wav"], [noise], out, count=2, seconds=n / 48000, seed=2,
                 reverb=True, rir=rirs)
    aligned = h.astype(np.float32)[100 - RIR_LEAD:]  # the direct path RIR_LEAD samples in
    speech = speech_int / 32768
    want_early = fftconvolve(speech, early_response(aligned).astype(np.float64))[:n]
    want_full = fftconvolve(speech, aligned.astype(np.float64))[:n]
    assert not np.allclose(want_early, want_full)  # the late tail makes them differ
    for item in report.items:
        assert item.speech[0].start == 0 and item.speech[0].duration == n / 48000
        clean = _read_int(out / "clean" / f"{item.name}.wav")
        noisy = _read_int(out / "noisy" / f"{item.name}.wav")
        noise_q = _read_int(out / "noise" / f"{item.name}.wav")
        # the scale the documented rule gives: the early speech at the target level, then
        # the clipping gain, in int16 units (whatever the response's own scale)
        scale = (np.sqrt(10 ** (item.target_level / 10) / active_power(want_early))
                 * 10 ** (item.gain / 20) * 32768)
        # both are that signal rounded to int16 (0.5 LSB), the response being kept in float32
        # after its scaling (relative 6e-8 a coefficient: ~5e-5 LSB here); a response shifted
        # by one sample or scaled otherwise misses by hundreds of LSB
        assert np.abs(clean - scale * want_early).max() <= 0.5 + 1e-3
        assert np.abs((noisy - noise_q) - scale * want_full).max() <= 0.5 + 1e-3
        # level and SNR are those of the clean (early) speech
        assert abs(measure_snr(clean, noise_q) - item.snr) < 1e-6
        assert abs(item.snr - item.target_snr) < 0.05
        assert abs(measure_level(clean / 32768) - item.level) < 1e-6
        assert item.response == str(rirs / "room.wav") and item.rt60 is None


def test_reverb_same_seed_same_files_and_the_dry_sets_draws(sources, tmp_path):
    sp, no = sources
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        runs[name] = mix([sp], [no], tmp_path / name, count=2, seconds=0.5, seed=seed,
                         reverb=True)
    mix([sp], [no], tmp_path / "dry", count=2, seconds=0.5, seed=3)
    for kind in ("clean", "noise", "noisy"):
        for f in ("mix_0001.wav", "mix_0002.wav"):
            assert (tmp_path / "a" / kind / f).read_bytes() == \
                (tmp_path / "b" / kind / f).read_bytes()
    assert (tmp_path / "a" / "mix.csv").read_text() == (tmp_path / "b" / "mix.csv").read_text()
    assert (tmp_path / "a" / "clean" / "mix_0001.wav").read_bytes() != \
        (tmp_path / "c" / "clean" / "mix_0001.wav").read_bytes()
    # the same speech, noise and targets as the dry set of the seed; other clean audio
    assert _fixed_columns(_rows(tmp_path / "a")) == _fixed_columns(_rows(tmp_path / "dry"))
    assert (tmp_path / "a" / "clean" / "mix_0001.wav").read_bytes() != \
        (tmp_path / "dry" / "clean" / "mix_0001.wav").read_bytes()
    rows = _rows(tmp_path / "a")
    assert list(rows[0]) == ["file", "snr_db", "level_dbfs", "target_snr_db",
                             "target_level_dbfs", "clip_gain_db", "speech_sources",
                             "noise_sources", "response", "rt60_s"]
    for i, (row, item) in enumerate(zip(rows, runs["a"].items, strict=True)):
        assert row["response"].startswith(f"room_{i + 1:04d} (")  # a room of its own
        assert 0.2 <= float(row["rt60_s"]) <= 0.8 and float(row["rt60_s"]) == item.rt60
    assert rows[0]["response"] != rows[1]["response"]


def test_reverb_share_zero_writes_the_dry_set(sources, tmp_path):
    """No triplet drawn to reverberate: the dry set's files (the reverb draws are apart)."""
    sp, no = sources
    mix([sp], [no], tmp_path / "dry", count=3, seconds=0.5, seed=7)
    report = mix([sp], [no], tmp_path / "none", count=3, seconds=0.5, seed=7, reverb=True,
                 reverb_share=0.0)
    for kind in ("clean", "noise", "noisy"):
        for item in report.items:
            f = f"{item.name}.wav"
            assert (tmp_path / "dry" / kind / f).read_bytes() == \
                (tmp_path / "none" / kind / f).read_bytes()
    dry, none = _rows(tmp_path / "dry"), _rows(tmp_path / "none")
    assert "response" not in dry[0]  # a dry mix.csv keeps its columns
    assert [{k: r[k] for k in dry[0]} for r in none] == dry
    assert all(r["response"] == "" and r["rt60_s"] == "" for r in none)


def test_reverb_share_is_a_share(sources, tmp_path):
    sp, no = sources
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    for k in range(3):
        _rir(rirs / f"r{k}.wav", peak_at=10 + k, seed=k)
    report = mix([sp], [no], tmp_path / "o", count=40, seconds=0.1, seed=1, reverb=True,
                 rir=rirs, reverb_share=0.5)
    used = [it.response for it in report.items]
    wet = sum(bool(u) for u in used)
    # binomial(40, 0.5): 9..31 holds with probability 1 - 1e-4 (and the seed is fixed)
    assert 9 <= wet <= 31
    assert {Path(u).name for u in used if u} == {"r0.wav", "r1.wav", "r2.wav"}


def test_reverb_errors(sources, tmp_path):
    sp, no = sources
    with pytest.raises(InputError, match="rir is used only with reverb"):
        mix([sp], [no], tmp_path / "o1", count=1, seconds=0.5, rir=tmp_path)
    with pytest.raises(InputError, match="reverb_share is used only with reverb"):
        mix([sp], [no], tmp_path / "o2", count=1, seconds=0.5, reverb_share=0.5)
    for share in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match=r"reverb_share must be in \[0, 1\]"):
            mix([sp], [no], tmp_path / "o3", count=1, seconds=0.5, reverb=True,
                reverb_share=share)
    with pytest.raises(InputError, match="no such file or folder"):
        mix([sp], [no], tmp_path / "o4", count=1, seconds=0.5, reverb=True,
            rir=tmp_path / "nope")
    assert not (tmp_path / "o4").exists()


def test_reverb_cli(sources, tmp_path, capsys):
    sp, no = sources
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    _rir(rirs / "r.wav")
    out = tmp_path / "cli"
    assert main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(out), "--count",
                 "2", "--seconds", "0.5", "--reverb", "--rir", str(rirs)]) == 0
    assert all(r["response"].endswith("r.wav") for r in _rows(out))
    capsys.readouterr()
    assert main(["mix", "--speech", str(sp), "--noise", str(no), "-o", str(tmp_path / "x"),
                 "--count", "1", "--rir", str(rirs)]) == 2
    assert capsys.readouterr().err.strip().endswith("--rir is used only with reverb")
