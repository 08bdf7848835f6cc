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
