"""Biquad filter with float32 state and a double state update (spec section 5).

:func:`biquad` filters an array; :func:`biquad_step` (a numba kernel, inlined where it is
called) is its one-sample recurrence, for kernels that fuse several filters in one loop (the
training generator).
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp._kernels import biquad_step

__all__ = ["A_HP", "B_HP", "biquad", "biquad_step", "highpass"]

B_HP = (np.float32(-2.0), np.float32(1.0))
"""Numerator (b0, b1) of the input high-pass: (1 + b0 z^-1 + b1 z^-2)."""
A_HP = (np.float32(-1.99599), np.float32(0.99600))
"""Denominator (a0, a1) of the input high-pass: (1 + a0 z^-1 + a1 z^-2)."""


def biquad(
    x: np.ndarray,
    mem: np.ndarray | None = None,
    b: tuple[float, float] = B_HP,
    a: tuple[float, float] = A_HP,
) -> tuple[np.ndarray, np.ndarray]:
    """RNNoise's transposed direct-form-II biquad.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Input samples (converted to float32).
    mem : np.ndarray, float32, shape (2,), optional
        Filter state (zeros when omitted). Not modified.
    b, a : pairs of float
        (b0, b1) and (a0, a1) of ``(1 + b0 z^-1 + b1 z^-2) / (1 + a0 z^-1 + a1 z^-2)``,
        rounded to float32. Defaults: the input high-pass.

    Returns
    -------
    y : np.ndarray, float32, shape (n,)
    mem : np.ndarray, float32, shape (2,)
        The state after the last sample.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    m = np.zeros(2, dtype=np.float32) if mem is None else np.array(mem, dtype=np.float32)
    f = np.float32
    y = K.biquad(x, m, f(b[0]), f(b[1]), f(a[0]), f(a[1]))
    return y, m


def highpass(x: np.ndarray, mem: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The input high-pass of ``rnnoise_process_frame`` (see :func:`biquad`)."""
    return biquad(x, mem, B_HP, A_HP)
