"""``rnnoise-kit features --compat`` against C ``denoise_training`` (reference/c/train_a_20k.f32).

Acceptance: on 20,000 rows from speech_a/noise_a, the -1 pattern of the gains and the VAD
column are identical on every row, columns 42-85 agree within 1e-5 on >= 99.5 % of the rows
and the features (0-41) within 1e-3 on >= 99 % of the rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnoise_kit.cli import main
from rnnoise_kit.training.generator import generate

ROWS = 20000


def _check(ours: np.ndarray, ref: np.ndarray) -> dict:
    assert ours.shape == ref.shape == (ROWS, 87)
    gains_o, gains_r = ours[:, 42:64], ref[:, 42:64]
    pattern = np.all((gains_o == -1) == (gains_r == -1), axis=1)
    assert pattern.all(), f"-1 pattern differs on rows {np.flatnonzero(~pattern)[:10]}"
    vad = ours[:, 86] == ref[:, 86]
    assert vad.all(), f"VAD differs on rows {np.flatnonzero(~vad)[:10]}"
    targets = (np.abs(ours[:, 42:86] - ref[:, 42:86]) <= 1e-5).all(axis=1).mean()
    feats = (np.abs(ours[:, :42] - ref[:, :42]) <= 1e-3).all(axis=1).mean()
    assert targets >= 0.995, f"columns 42-85 within 1e-5 on only {targets:.2%} of rows"
    assert feats >= 0.99, f"features within 1e-3 on only {feats:.2%} of rows"
    return {"targets": targets, "features": feats}


@pytest.fixture(scope="module")
def c_rows(reference):
    return np.fromfile(reference / "c" / "train_a_20k.f32", dtype="<f4").reshape(-1, 87)


def test_compat_api_reproduces_c(reference, c_rows, tmp_path):
    out = tmp_path / "t.f32"
    res = generate(reference / "audio" / "speech_a.wav", reference / "audio" / "noise_a.wav",
                   ROWS, out, compat=True, progress=False)
    assert res.rows == ROWS
    ours = np.fromfile(out, dtype="<f4").reshape(-1, 87)
    _check(ours, c_rows)


def test_compat_cli_reproduces_c_h5(reference, c_rows, tmp_path, capsys):
    import h5py

    out = tmp_path / "t.h5"
    rc = main([
        "features", "--compat",
        "--speech", str(reference / "audio" / "speech_a.wav"),
        "--noise", str(reference / "audio" / "noise_a.wav"),
        "--frames", str(ROWS), "-o", str(out),
    ])
    assert rc == 0
    with h5py.File(out, "r") as f:
        ours = f["data"][:]
        assert f.attrs["mode"] == "compat"
        assert len(f.attrs["speech_sha256"]) == 64
    _check(ours, c_rows)
