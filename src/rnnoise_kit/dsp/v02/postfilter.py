"""What the RNNoise 0.2 denoiser does with the network's gains (spec ``rnnoise-v0.2.md`` §2,
steps 4-7, HEAD's library as in pyrnnoise), as pure functions over blocks of frames.

0.2 applies the gains of frame t to the spectrum of frame t-1 (one extra frame of delay): the
pitch filter and the gains act on the *delayed* X, P, Ex, Ep, Exp, while the decay cap's
energy compensation reads both the delayed and the current Ex. Per non-silent frame, as C::

    Y  = pitch_filter(X[t-1], P[t-1], Ex[t-1], Ep[t-1], Exp[t-1], g[t])
    g' = max(g[t], .6*lastg);  lastg = min(1, g'*(Ex[t-1] + 1e-3)/(Ex[t] + 1e-3))
    Y *= interp_band_gain(g')

On silent frames the network does not run and ``X[t-1]`` goes to synthesis unchanged (lastg
kept). Synthesis is v0.1's (:func:`rnnoise_kit.dsp.transform.synthesize`).

Building blocks: :func:`delayed_frames`, :func:`pitch_filter`, :func:`cap_gains`,
:func:`apply_gains`; :func:`postfilter_v02` composes them with a :class:`PostFilterState02`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnoise_kit.dsp import features as _features
from rnnoise_kit.dsp.bands import band_rows, spectra_rows
from rnnoise_kit.dsp.constants import FREQ_SIZE
from rnnoise_kit.dsp.v02 import _kernels as K2
from rnnoise_kit.dsp.v02.analysis import BANDS, FrameAnalysis02
from rnnoise_kit.dsp.v02.constants import BIN_FRAC, BIN_FRAC_LO, EBAND_20MS, NB_BANDS

__all__ = [
    "DelayedFrames",
    "PostFilterState02",
    "apply_gains",
    "cap_gains",
    "delayed_frames",
    "pitch_filter",
    "postfilter_v02",
]


def _bands(a: np.ndarray, n: int, what: str) -> np.ndarray:
    return band_rows(a, NB_BANDS, n, what)


def _flags(a: np.ndarray, n: int) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.bool_)
    if a.shape != (n,):
        raise ValueError(f"silence must have shape ({n},), got {a.shape}")
    return a


@dataclass
class PostFilterState02:
    """What ``rnnoise_process_frame`` carries for steps 4-7: the previous frame's analysis
    (C's ``delayed_X``, ``delayed_P``, ``delayed_Ex``, ``delayed_Ep``, ``delayed_Exp``, zero at
    the start) and the decay-cap memory ``lastg``.

    Attributes
    ----------
    X, P : (481,) complex64
    Ex, Ep, Exp : (32,) float32
    lastg : (32,) float32
    """

    X: np.ndarray = field(default_factory=lambda: np.zeros(FREQ_SIZE, np.complex64))
    P: np.ndarray = field(default_factory=lambda: np.zeros(FREQ_SIZE, np.complex64))
    Ex: np.ndarray = field(default_factory=lambda: np.zeros(NB_BANDS, np.float32))
    Ep: np.ndarray = field(default_factory=lambda: np.zeros(NB_BANDS, np.float32))
    Exp: np.ndarray = field(default_factory=lambda: np.zeros(NB_BANDS, np.float32))
    lastg: np.ndarray = field(default_factory=lambda: np.zeros(NB_BANDS, np.float32))

    def copy(self) -> PostFilterState02:
        """A deep copy (arrays copied)."""
        return PostFilterState02(
            self.X.copy(), self.P.copy(), self.Ex.copy(), self.Ep.copy(), self.Exp.copy(),
            self.lastg.copy(),
        )  # fmt: skip


@dataclass
class DelayedFrames:
    """The analysis of frames t-1 for a block of frames t (what the gains of frame t act on).

    Attributes
    ----------
    X, P : (n, 481) complex64
    Ex, Ep, Exp : (n, 32) float32
    """

    X: np.ndarray
    P: np.ndarray
    Ex: np.ndarray
    Ep: np.ndarray
    Exp: np.ndarray


def delayed_frames(res: FrameAnalysis02, state: PostFilterState02) -> DelayedFrames:
    """Shift a block's analysis by one frame: row t holds frame t-1 (row 0 the state's frame).

    ``state``'s delayed frame becomes the block's last frame (updated in place; ``lastg`` is
    not touched). Arrays are new copies.

    Parameters
    ----------
    res : FrameAnalysis02
        n >= 1 consecutive frames.
    state : PostFilterState02

    Returns
    -------
    DelayedFrames
        (n, ...) arrays.
    """
    n = len(res)
    if n == 0:
        raise ValueError("delayed_frames needs at least one frame")
    out = []
    for name in ("X", "P", "Ex", "Ep", "Exp"):
        cur = getattr(res, name)
        prev = getattr(state, name)
        d = np.empty_like(cur)
        d[0] = prev
        d[1:] = cur[:-1]
        setattr(state, name, cur[-1].copy())
        out.append(d)
    return DelayedFrames(*out)


def pitch_filter(X: np.ndarray, P: np.ndarray, Ex: np.ndarray, Ep: np.ndarray, Exp: np.ndarray,
                 g: np.ndarray) -> np.ndarray:
    """0.2's ``rnn_pitch_filter`` on n frames, pure: :func:`rnnoise_kit.dsp.pitch_filter` (v0.1's
    formula) over 0.2's 32 bands (:data:`~rnnoise_kit.dsp.v02.analysis.BANDS`); the (delayed)
    frames' X, P (n, 481), Ex, Ep, Exp and raw gains g (n, 32) -> (n, 481) complex64."""
    return _features.pitch_filter(X, P, Ex, Ep, Exp, g, BANDS)


def cap_gains(
    g: np.ndarray,
    ex_delayed: np.ndarray,
    ex_current: np.ndarray,
    silence: np.ndarray,
    lastg: np.ndarray,
) -> np.ndarray:
    """The decay cap and HEAD's energy-compensated memory (spec §2 step 5), frame by frame.

    Per non-silent frame: ``g' = max(g, .6f*lastg)`` (float32), then
    ``lastg = min(1, g'*(ex_delayed + 1e-3)/(ex_current + 1e-3))`` in double (C's ``1e-3`` is
    a double literal), rounded to float32. Silent frames: ``g' = g``, ``lastg`` kept.

    Parameters
    ----------
    g : (n, 32) float32
        Raw network gains.
    ex_delayed : (n, 32) float32
        Band energies of the frames the gains act on (frame t-1).
    ex_current : (n, 32) float32
        Band energies of the frames just analysed (frame t).
    silence : (n,) bool
    lastg : (32,) float32
        Updated in place (carried from block to block).

    Returns
    -------
    np.ndarray, float32, shape (n, 32)
        The capped gains g'.
    """
    g = np.ascontiguousarray(g, dtype=np.float32)
    n = g.shape[0]
    g = _bands(g, n, "g")
    if lastg.dtype != np.float32 or lastg.shape != (NB_BANDS,):
        raise ValueError(f"lastg must be a float32 array of shape ({NB_BANDS},)")
    out = np.empty_like(g)
    K2.cap_gains_frames(
        g, _bands(ex_delayed, n, "ex_delayed"), _bands(ex_current, n, "ex_current"),
        _flags(silence, n), lastg, out,
    )  # fmt: skip
    return out


def apply_gains(Y: np.ndarray, g: np.ndarray, silence: np.ndarray) -> None:
    """Multiply each non-silent frame's bins by 0.2's interpolation of its band gains.

    Parameters
    ----------
    Y : (n, 481) complex64, C-contiguous
        Spectra (the pitch-filtered delayed frames), scaled in place; bins 400..480 of
        non-silent frames become 0, silent frames are left untouched.
    g : (n, 32) float32
        Capped gains (:func:`cap_gains`).
    silence : (n,) bool
    """
    if Y.dtype != np.complex64 or not Y.flags.c_contiguous or Y.ndim != 2:
        raise ValueError("Y must be a C-contiguous complex64 array of shape (n, 481)")
    n = Y.shape[0]
    spectra_rows(Y, n, "Y")
    K2.apply_gains_frames(
        Y.view(np.float32), _bands(g, n, "g"), _flags(silence, n), EBAND_20MS, BIN_FRAC,
        BIN_FRAC_LO,
    )  # fmt: skip


def postfilter_v02(res: FrameAnalysis02, gains: np.ndarray, state: PostFilterState02) -> np.ndarray:
    """Steps 4-6 of ``rnnoise_process_frame`` for a block: the spectra to synthesise.

    Parameters
    ----------
    res : FrameAnalysis02
        The block's analysis (n frames; ``res.silence`` says where the network did not run).
    gains : (n, 32) float32
        The network's gains of each frame (ignored on silent frames).
    state : PostFilterState02
        Updated in place (delayed frame, lastg).

    Returns
    -------
    np.ndarray, complex64, shape (n, 481)
        Row t: frame t-1's spectrum, pitch-filtered and scaled by frame t's capped gains (or
        unchanged where frame t is silent). Pass it to
        :func:`rnnoise_kit.dsp.transform.synthesize`: the output lags the input by two frames.
    """
    n = len(res)
    g = _bands(gains, n, "gains")
    sil = _flags(res.silence, n)
    # one fused pass (the block functions above, frame by frame, without their per-call
    # wrappers): what keeps 10 ms streaming cheap
    for name, size, dtype in (("X", FREQ_SIZE, np.complex64), ("P", FREQ_SIZE, np.complex64),
                              ("Ex", NB_BANDS, np.float32), ("Ep", NB_BANDS, np.float32),
                              ("Exp", NB_BANDS, np.float32), ("lastg", NB_BANDS, np.float32)):
        a = getattr(state, name)
        if a.shape != (size,) or a.dtype != dtype or not a.flags.c_contiguous or \
                not a.flags.writeable:
            setattr(state, name, np.ascontiguousarray(a, dtype=dtype).reshape(size).copy())
    Y = np.empty((n, 2 * FREQ_SIZE), dtype=np.float32)
    K2.postfilter_frames(
        spectra_rows(res.X, n, "X").view(np.float32), spectra_rows(res.P, n, "P").view(np.float32),
        _bands(res.Ex, n, "Ex"), _bands(res.Ep, n, "Ep"), _bands(res.Exp, n, "Exp"), sil, g,
        state.X.view(np.float32), state.P.view(np.float32), state.Ex, state.Ep, state.Exp,
        state.lastg, Y,
    )  # fmt: skip
    return Y.view(np.complex64)
