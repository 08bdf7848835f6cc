"""The RNNoise_Wrapper's real recordings (``../shared/reference/wrapper``).

The wrapper resampled 8 kHz to 48 kHz with ``audioop.ratecv``, zero-padded each file to whole
frames, ran one long-lived C state over files 1 to 5 in order (never reset), and resampled back
with ``audioop.ratecv``. We do the same with one ``Denoiser.stream(48000)`` doing the 48 kHz part.
The C library reproduces the files at 60 dB or more this way; the remaining difference here is
the wrapper's float-to-int16 truncation vs our rounding before the second ``ratecv``
(measured: 54 to 66 dB). The issue's floor is 40 dB; a fresh state per file gives only 34 to
42 dB, so this test also pins the carried state.
"""

from __future__ import annotations

import warnings

import numpy as np
import soundfile as sf

from helpers import snr_db
from rnnoise_kit.denoise import Denoiser

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+: the audioop-lts package provides it
        audioop = None

FLOOR_DB = 40.0


def _ratecv(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    data, _ = audioop.ratecv(x.astype("<i2").tobytes(), 2, 1, src, dst, None)
    return np.frombuffer(data, dtype="<i2")


def test_wrapper_recordings_with_carried_state(reference):
    assert audioop is not None, "audioop (or audioop-lts on Python 3.13+) is required"
    model = reference / "models" / "keras" / "weights_5h_b_500k.hdf5"
    stream = Denoiser(model, compensate_delay=False).stream(48000)
    for i in range(1, 6):
        noisy, rate = sf.read(reference / "wrapper" / f"test_{i}.wav", dtype="int16")
        up = _ratecv(noisy, rate, 48000)
        up = np.concatenate([up, np.zeros((-up.shape[0]) % 480, np.int16)])
        out = stream.process(up)
        assert out.shape == up.shape  # whole frames in, whole frames out, no delay trim
        down = _ratecv(out, 48000, rate)
        expected, _ = sf.read(reference / "wrapper" / f"test_{i}_denoised.wav", dtype="int16")
        assert down.shape == expected.shape
        assert snr_db(expected, down) >= FLOOR_DB, f"test_{i}"
