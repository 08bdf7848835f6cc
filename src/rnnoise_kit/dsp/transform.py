"""Window, forward/inverse transforms and overlap-add synthesis (spec section 2).

Scaling follows RNNoise: ``forward_transform(x) = rfft(x)/960`` and
``inverse_transform(X) = irfft(X)*960``, so ``inverse_transform(forward_transform(x)) == x`` up to
rounding. By default the transforms emulate RNNoise's KISS FFT bit for bit (numba; from 4 frames
on, 16 frames run as SIMD lanes: about 2.5 us a frame, 4.5 us for a single frame);
``exact=False`` uses float32 ``scipy.fft`` (pocketfft), which agrees with KISS to about 1e-7
relative. :func:`synthesize` is one fused kernel (inverse FFT, window, overlap-add).
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp import _kissfft as KF
from rnnoise_kit.dsp.constants import FRAME_SIZE, WINDOW_SIZE
from rnnoise_kit.dsp.tables import HALF_WINDOW, WINDOW

__all__ = [
    "HALF_WINDOW",
    "WINDOW",
    "apply_window",
    "forward_transform",
    "inverse_transform",
    "synthesize",
]


def apply_window(x: np.ndarray) -> np.ndarray:
    """Multiply frames by the Vorbis window (float32).

    Parameters
    ----------
    x : np.ndarray, shape (..., 960)

    Returns
    -------
    np.ndarray, float32, shape (..., 960)
    """
    return np.asarray(x, dtype=np.float32) * WINDOW


def forward_transform(x: np.ndarray, exact: bool = True) -> np.ndarray:
    """RNNoise's forward transform, ``rfft(x)/960``, in float32.

    Parameters
    ----------
    x : np.ndarray, shape (..., 960), real
    exact : bool
        Bit-exact KISS FFT emulation (default) or float32 scipy.fft.

    Returns
    -------
    np.ndarray, complex64, shape (..., 481)
    """
    x = np.asarray(x, dtype=np.float32)
    if not exact:
        import scipy.fft  # lazy: keeps start-up fast

        return scipy.fft.rfft(x, axis=-1, norm="forward").astype(np.complex64, copy=False)
    flat = np.ascontiguousarray(x.reshape(-1, WINDOW_SIZE), dtype=np.float32)
    out = np.empty((flat.shape[0], 2 * (FRAME_SIZE + 1)), dtype=np.float32)
    # same bits either way; 16 frames per SIMD pass from a few frames on
    (KF.forward_batch_lanes if flat.shape[0] >= 4 else KF.forward_batch)(flat, out)
    return out.view(np.complex64).reshape(*x.shape[:-1], FRAME_SIZE + 1)


def inverse_transform(X: np.ndarray, exact: bool = True) -> np.ndarray:
    """RNNoise's inverse transform, ``irfft(X, 960)*960``, in float32.

    Parameters
    ----------
    X : np.ndarray, shape (..., 481), complex
    exact : bool
        Bit-exact KISS emulation (default) or float32 scipy.fft (which ignores the imaginary
        parts of bins 0 and 480; KISS lets them round into the result).

    Returns
    -------
    np.ndarray, float32, shape (..., 960)
    """
    X = np.asarray(X, dtype=np.complex64)
    if not exact:
        import scipy.fft

        y = scipy.fft.irfft(X, n=WINDOW_SIZE, axis=-1, norm="forward")
        return y.astype(np.float32, copy=False)
    flat = np.ascontiguousarray(X.reshape(-1, FRAME_SIZE + 1)).view(np.float32)
    out = np.empty((flat.shape[0], WINDOW_SIZE), dtype=np.float32)
    (KF.inverse_batch_lanes if flat.shape[0] >= 4 else KF.inverse_batch)(flat, out)
    return out.reshape(*X.shape[:-1], WINDOW_SIZE)


def synthesize(
    X: np.ndarray, synthesis_mem: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frame synthesis (§2.4) of consecutive frames: inverse transform, window, overlap-add.

    Parameters
    ----------
    X : np.ndarray, complex64, shape (n, 481)
        Spectra of n consecutive frames.
    synthesis_mem : np.ndarray, float32, shape (480,), optional
        Second half of the previous frame's windowed inverse (zeros at the start). Not modified.

    Returns
    -------
    out : np.ndarray, float32, shape (480 n,)
        Output samples; frame t's output is the input of frames t-1/t overlap-added (480 delay).
    synthesis_mem : np.ndarray, float32, shape (480,)
        The state to pass with the next block.
    """
    X = np.asarray(X, dtype=np.complex64)
    if X.ndim != 2 or X.shape[1] != FRAME_SIZE + 1:
        raise ValueError(f"X must have shape (n, 481), got {X.shape}")
    mem = (
        np.zeros(FRAME_SIZE, dtype=np.float32)
        if synthesis_mem is None
        else np.array(synthesis_mem, dtype=np.float32)
    )
    # one fused kernel (inverse KISS FFT 16 frames per SIMD pass, window, overlap-add):
    # the same bits as inverse_transform(X) * WINDOW followed by K.overlap_add
    xf = np.ascontiguousarray(X).view(np.float32)
    if X.shape[0] < 4:
        # a 16-lane SIMD pass costs as much as 16 frames: streaming's single frames take
        # the scalar transform (same bits)
        y = np.empty((X.shape[0], WINDOW_SIZE), dtype=np.float32)
        KF.inverse_batch(xf, y)
        y *= WINDOW
        return K.overlap_add(y, mem), mem
    out = np.empty(FRAME_SIZE * X.shape[0], dtype=np.float32)
    KF.synthesize_lanes(xf, WINDOW, mem, out)
    return out, mem
