"""``rnnoise-kit features --arch 0.2`` default mode: seeding, sharding, responses, outputs,
errors (the compat mode's bytes are checked in ``test_reference_v02_generator.py``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError, SettingError
from rnnoise_kit.training.v02 import generator as G
from rnnoise_kit.training.v02.layout import FEATURES, GAINS, ROW, SEQUENCE, VAD_COL


def _speech(seconds: float, seed: int = 1) -> np.ndarray:
    """Voiced bursts with pauses, int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 48000)) / 48000
    phase = 2 * np.pi * np.cumsum(120 + 40 * np.sin(2 * np.pi * 0.7 * t)) / 48000
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = (np.sin(2 * np.pi * 0.4 * t) > -0.2) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    x = 6000 * x * env + 30 * rng.standard_normal(t.size)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _noise(seconds: float, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(2000 * rng.standard_normal(int(seconds * 48000))), -32768,
                   32767).astype(np.int16)


@pytest.fixture
def audio(tmp_path) -> dict:
    sp, no, fg = tmp_path / "speech.sw", tmp_path / "noise.wav", tmp_path / "fg.raw"
    _speech(6.0).tofile(sp)  # shorter than a sequence: read around
    sf.write(str(no), _noise(25.0), 48000, subtype="PCM_16")
    _noise(3.0, seed=3).tofile(fg)
    return {"speech": sp, "noise": no, "fg": fg}


def _rows(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(-1, ROW)


def test_same_seed_same_bytes_whatever_jobs(tmp_path, audio, monkeypatch):
    monkeypatch.setattr(G, "SHARD_SEQUENCES", 1)  # two shards in a short run
    kw = dict(foreground_noise=audio["fg"], rooms=2, progress=False)
    n = 2 * SEQUENCE
    G.generate_v02(audio["speech"], audio["noise"], n, tmp_path / "j1.f32", seed=5, jobs=1,
                   **kw)
    G.generate_v02(audio["speech"], audio["noise"], n, tmp_path / "j2.h5", seed=5, jobs=2,
                   **kw)
    a = _rows(tmp_path / "j1.f32")
    with h5py.File(tmp_path / "j2.h5", "r") as f:
        assert np.array_equal(f["data"][:], a)
        assert f.attrs["arch"] == "0.2" and f.attrs["seed"] == 5
        assert f.attrs["mode"] == "default" and f.attrs["columns"] == ROW
        assert f.attrs["reverberation"] == "2 simulated rooms"
        assert f.attrs["foreground_noise"].endswith("fg.raw")
        assert len(f.attrs["foreground_sha256"]) == 64
    assert a.shape == (n, ROW) and np.isfinite(a).all()
    G.generate_v02(audio["speech"], audio["noise"], n, tmp_path / "s6.f32", seed=6, **kw)
    assert (tmp_path / "s6.f32").read_bytes() != (tmp_path / "j1.f32").read_bytes()


def test_rows_follow_the_layout_rules(tmp_path, audio):
    out = tmp_path / "m.f32"
    G.generate_v02(audio["speech"], audio["noise"], 3 * SEQUENCE, out, rooms=0, seed=2,
                   progress=False)
    rows = _rows(out)
    gains = rows[:, GAINS]
    assert np.all((gains == -1) | ((gains >= 0) & (gains <= 1)))
    assert set(np.unique(rows[:, VAD_COL])) <= {0.0, 1.0}
    assert 0 < rows[:, VAD_COL].mean() < 1  # speech with pauses: both targets occur
    assert np.isfinite(rows[:, FEATURES]).all()
    assert (gains >= 0).any() and (gains == -1).any()


def test_fast_convolution_is_the_exact_one_to_float_rounding():
    """Default mode's overlap-save (scipy.fft) against C's KISS-FFT convolution: the same
    response, scale and alignment; they differ by float32 rounding only."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(G.SEQUENCE_SAMPLES) * 3000).astype(np.float32)
    h = (rng.standard_normal(20000) * np.exp(-np.arange(20000) / 3000)).astype(np.float32)
    for early in (False, True):
        a, b = x.copy(), x.copy()
        G.RirBank([h], exact=True).apply(a, 0, early)
        G.RirBank([h], exact=False).apply(b, 0, early)
        # float32 FFTs of 65536 (C) and up to 131072 points: errors ~1e-6 of the peak
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(a))


def test_rir_folder_and_no_foreground(tmp_path, audio):
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    h = np.zeros(4800)
    h[10], h[500], h[2000] = 0.9, 0.3, -0.1
    sf.write(str(rirs / "room.wav"), h, 48000, subtype="FLOAT")
    out = tmp_path / "m.h5"
    res = G.generate_v02(audio["speech"], audio["noise"], SEQUENCE, out, rir=rirs, seed=1,
                         progress=False)
    assert res.attrs["foreground_noise"] == "none"
    assert res.attrs["reverberation"].startswith("1 responses from")
    with h5py.File(out, "r") as f:
        assert f["data"].shape == (SEQUENCE, ROW)
        assert f.attrs["rir_files"].endswith("room.wav")


@pytest.mark.parametrize("frames", [0, 1999, 3000])
def test_frames_must_be_whole_sequences(tmp_path, audio, frames):
    with pytest.raises(SettingError, match="multiple of 2000"):
        G.generate_v02(audio["speech"], audio["noise"], frames, tmp_path / "m.f32",
                       progress=False)
    assert not (tmp_path / "m.f32").exists()


def test_compat_needs_three_inputs_of_20_seconds(tmp_path, audio):
    with pytest.raises(SettingError, match="foreground_noise"):
        G.generate_v02(audio["speech"], audio["noise"], SEQUENCE, tmp_path / "m.f32",
                       compat=True, progress=False)
    with pytest.raises(InputError, match="at least 960000"):
        G.generate_v02(audio["speech"], audio["noise"], SEQUENCE, tmp_path / "m.f32",
                       foreground_noise=audio["noise"], compat=True, progress=False)


def test_cli_errors_are_one_line_exit_2(tmp_path, audio, capsys):
    base = ["features", "--speech", str(audio["speech"]), "--noise", str(audio["noise"]),
            "-o", str(tmp_path / "m.f32")]
    assert main(base + ["--arch", "0.2", "--frames", "2500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--frames must be a positive multiple of 2000" in err[0]
    # (--rir and --foreground-noise serve the v0.1 generator's augmentation too)
    assert main(base + ["--frames", "2000", "--rooms", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rooms needs --arch 0.2" in err[0]
    assert main(base + ["--arch", "0.2", "--frames", "2000", "--compat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--foreground-noise is required" in err[0]
    assert not (tmp_path / "m.f32").exists()


def test_cli_default_mode(tmp_path, audio, capsys):
    out = tmp_path / "m.f32"
    rc = main(["features", "--arch", "0.2", "--speech", str(audio["speech"]), "--noise",
               str(audio["noise"]), "--foreground-noise", str(audio["fg"]), "--rooms", "1",
               "--frames", "2000", "--seed", "4", "-o", str(out)])
    assert rc == 0
    assert "2000 rows x 98" in capsys.readouterr().out
    assert out.stat().st_size == SEQUENCE * ROW * 4
