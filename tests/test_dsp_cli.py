"""``rnnoise-kit dump-features``: output layout and bad input (exit 2, one line, no file)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.cli import main
from rnnoise_kit.dsp.features import analyse


def _tone(n, rate=48000, channels=1):
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(n)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def test_dump_features_ok(tmp_path, capsys):
    wav = tmp_path / "in.wav"
    sf.write(wav, _tone(480 * 7 + 100), 48000, subtype="PCM_16")
    out = tmp_path / "f.npy"
    assert main(["dump-features", str(wav), "-o", str(out)]) == 0
    tab = np.load(out)
    assert tab.shape == (7, 66) and tab.dtype == np.float32
    x = (sf.read(wav, dtype="float64")[0] * 32768).astype(np.float32)[: 480 * 7]
    assert np.array_equal(tab[:, :42], analyse(x).features)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_dump_features_resamples_and_mixes_down(tmp_path, capsys):
    wav = tmp_path / "st.wav"
    sf.write(wav, _tone(16000, 16000, channels=2), 16000, subtype="PCM_16")
    out = tmp_path / "f.npy"
    assert main(["dump-features", str(wav), "-o", str(out)]) == 0
    assert np.load(out).shape == (100, 66)
    err = capsys.readouterr().err
    assert "mono" in err and "resampled" in err


def _bad_inputs(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 48000)
    short = tmp_path / "short.wav"
    sf.write(short, _tone(479), 48000, subtype="PCM_16")
    nan = tmp_path / "nan.wav"
    x = _tone(4800)
    x[100] = np.nan
    sf.write(nan, x, 48000, subtype="FLOAT")
    inf = tmp_path / "inf.wav"
    x[100] = np.inf
    sf.write(inf, x, 48000, subtype="FLOAT")
    return {
        "missing": tmp_path / "missing.wav",
        "corrupt": corrupt,
        "empty": empty,
        "short": short,
        "nan": nan,
        "inf": inf,
    }


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty", "short", "nan", "inf"])
def test_bad_input(tmp_path, capsys, case):
    path = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "f.npy"
    out.parent.mkdir()  # an existing folder, where a left-over temp file would show
    before = sorted(tmp_path.rglob("*"))
    assert main(["dump-features", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and str(path) in err
    assert sorted(tmp_path.rglob("*")) == before  # no output, no temp file, nothing else
