"""Denoiser against the C reference's output (``../shared/reference/c/denoised_*.raw``).

The C harness ran ``rnnoise_process_frame`` on every frame and converted the float output to
int16 by truncation; we run the CLI with ``--no-delay-compensation`` (the same 480-sample
delay, first frame kept) and write rounded int16. The DSP and network are bit-exact, so the
only difference is truncation vs rounding (at most 1 LSB): about 72 dB. The issue asks for
40 dB; we assert 60 dB so that any real divergence (one wrong frame costs far more) fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from helpers import snr_db
from rnnoise_kit.cli import main as cli

MIN_SNR_DB = 60.0


@pytest.mark.parametrize(
    ("audio", "model", "expected"),
    [
        ("mix_a", "std", "denoised_a_std"),
        ("mix_a", "sh", "denoised_a_sh"),
        ("mix_gap", "std", "denoised_gap_std"),
    ],
)
def test_cli_denoise_matches_c(reference, tmp_path, audio, model, expected):
    out = tmp_path / "out.wav"
    rc = cli([
        "denoise", str(reference / "audio" / f"{audio}.wav"), "-o", str(out),
        "--model", str(reference / "models" / f"{model}.rnnn"), "--no-delay-compensation",
    ])  # fmt: skip
    assert rc == 0
    ours, rate = sf.read(out, dtype="int16")
    assert rate == 48000
    ref = np.fromfile(reference / "c" / f"{expected}.raw", dtype="<i2")
    # the C harness wrote whole frames only; our output keeps the input's length
    assert ours.shape[0] >= ref.shape[0]
    assert snr_db(ref, ours[: ref.shape[0]]) >= MIN_SNR_DB


def test_vad_matches_c_frames(reference):
    """The per-frame VAD the Denoiser returns is the network's, as the C harness logged it."""
    from rnnoise_kit.denoise import Denoiser

    x, _ = sf.read(reference / "audio" / "mix_a.wav", dtype="int16")
    frames = np.fromfile(reference / "c" / "frames_a_std.f32", dtype="<f4").reshape(-1, 89)
    _, vad = Denoiser(reference / "models" / "std.rnnn", compensate_delay=False).denoise(x, 48000)
    n = frames.shape[0]
    # bit-exact DSP and network: identical float32 values
    np.testing.assert_array_equal(vad[:n], frames[:, 64])
