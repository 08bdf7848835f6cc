"""The fused per-block analysis kernel: one numba call per block (offline) or frame (streaming).

Both paths run this same code, so they agree bit for bit by construction; the tests also check
it against the step-by-step composition of the smaller kernels.

Numba's on-disk cache keys a function on its own source file only, so a cached
``analyse_block`` would keep running the old code of the kernels it calls after ``_kernels.py``
or ``_kissfft.py`` change. The kernels here are therefore closures over a hash of those files:
numba hashes closure variables into the cache key, so any edit there recompiles them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numba import njit

from rnnoise_kit.dsp import _kernels, _kissfft, constants, tables
from rnnoise_kit.dsp._kernels import (
    BAND_START,
    BIN_FRAC,
    BIN_FRAC_LO,
    features_frames,
    pitch_frames,
)
from rnnoise_kit.dsp._kissfft import (
    _LANES,
    SCALE,
    _lanes_fft,
    _lanes_in,
    forward_windowed,
    forward_windowed_lanes,
)
from rnnoise_kit.dsp.constants import NB_BANDS
from rnnoise_kit.dsp.tables import WINDOW

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}

# frame t's analysis window starts at 480 t + 1248 in (pitch_buf ++ new samples)
_X_OFFSET = 1728 - 960 + 480


def deps_key(*modules) -> int:
    """A hash of the DSP kernel sources (and of ``modules``' files): the closure value that
    makes numba recompile a cached block kernel when a kernel it calls has changed."""
    h = hashlib.sha256()
    for mod in (_kernels, _kissfft, tables, constants, *modules):
        h.update(Path(mod.__file__).read_bytes())
    return int.from_bytes(h.digest()[:7], "little")


def _build_spectra(deps: int):
    @njit(**_JIT)
    def _spectra(xp, starts, out):
        # identical bits either way; the lanes version pays off from a few frames on
        if starts.shape[0] >= 4 + 0 * deps:
            forward_windowed_lanes(xp, starts, WINDOW, out)
        else:
            forward_windowed(xp, starts, WINDOW, out)

    return _spectra


_spectra = _build_spectra(deps_key())


def _build_block_spectra(deps: int):
    @njit(**_JIT)
    def block_spectra(xp, periods, lowpass, xf, pf):
        """X and P of the n frames of ``xp`` (1728 + 480 n,) = previous pitch buffer ++ new
        samples (both generations): X of frame t is the KISS FFT of the windowed
        ``xp[480 t + 1248 :][:960]``, bins >= ``lowpass[t]`` zeroed (481 = none); P the same
        window ``periods[t]`` samples earlier. ``xf``, ``pf`` (n, 962) float32 re/im."""
        n = periods.shape[0]
        starts = np.empty(n, dtype=np.int64)
        for t in range(n):
            starts[t] = 480 * t + _X_OFFSET + 0 * deps
        _spectra(xp, starts, xf)
        for t in range(n):
            for k in range(lowpass[t], 481):
                xf[t, 2 * k] = np.float32(0)
                xf[t, 2 * k + 1] = np.float32(0)
        for t in range(n):
            starts[t] = 480 * t + _X_OFFSET - periods[t]
        _spectra(xp, starts, pf)

    return block_spectra


block_spectra = _build_block_spectra(deps_key())


def _build_block(deps: int):
    # closes over ``deps`` only (an int); ``_spectra`` is a module global: a dispatcher in a
    # closure cell would be pickled into the cache key, differently in every process
    @njit(**_JIT)
    def analyse_block(
        xp, n, last_period, last_gain, training, lowpass, cmem, memid,
        xf, pf, ex, ep, exp_, feats, silence, periods, gains, energy,
    ):  # fmt: skip
        """Analyse n frames of ``xp`` (1728 + 480 n,) = previous pitch buffer ++ new samples.

        ``lowpass`` (n,) int64: bins >= lowpass[t] of X are zeroed (481 = none). Outputs are
        written into the preallocated arrays; ``cmem`` is updated in place.
        Returns (last_period, last_gain, memid)."""
        last_period, last_gain = pitch_frames(
            xp, n + 0 * deps, last_period, last_gain, periods, gains
        )
        block_spectra(xp, periods, lowpass, xf, pf)
        memid = features_frames(
            xf, pf, periods, training, cmem, memid, feats, silence, ex, ep, exp_, energy
        )
        return last_period, last_gain, memid

    return analyse_block


analyse_block = _build_block(deps_key())


def _build_band_energy(deps: int):
    @njit(**_JIT)
    def band_energy_windowed(buf, lowpass, out):
        """Band energies of the n frames of ``buf`` (480 (n + 1),) = previous frame ++ n new
        frames, without storing the spectra: window, KISS FFT (16 frames as SIMD lanes), bins
        >= ``lowpass`` treated as zero, triangular band sums. ``out`` (n, 22). Same bits as
        ``frame_analysis`` then ``band_energy``: each band keeps its sequential float32 sum
        over bins in order, and a zeroed bin adds exactly 0 to a non-negative sum."""
        n = out.shape[0]
        stop = min(lowpass, BAND_START[NB_BANDS - 1]) + 0 * deps
        ar = np.empty((960, _LANES), dtype=np.float32)
        ai = np.empty((960, _LANES), dtype=np.float32)
        wf = np.zeros((_LANES, 960), dtype=np.float32)
        cx = np.empty(_LANES, dtype=np.float32)
        nx = np.empty(_LANES, dtype=np.float32)
        for t0 in range(0, n, _LANES):
            nb = min(_LANES, n - t0)
            for f in range(nb):
                seg = buf[480 * (t0 + f) : 480 * (t0 + f) + 960]
                w = wf[f]
                for i in range(960):
                    w[i] = (seg[i] * WINDOW[i]) * SCALE
            for f in range(nb, _LANES):
                for i in range(960):
                    wf[f, i] = np.float32(0)
            _lanes_in(wf, ar, ai)
            _lanes_fft(ar, ai)
            for f in range(_LANES):
                cx[f] = np.float32(0)
            for b in range(NB_BANDS - 1):
                for f in range(_LANES):
                    nx[f] = np.float32(0)
                for k in range(BAND_START[b], min(BAND_START[b + 1], stop)):
                    lo = BIN_FRAC_LO[k]
                    hi = BIN_FRAC[k]
                    for f in range(_LANES):
                        v = ar[k, f] * ar[k, f] + ai[k, f] * ai[k, f]
                        cx[f] = cx[f] + lo * v
                        nx[f] = nx[f] + hi * v
                for f in range(nb):
                    out[t0 + f, b] = cx[f]
                for f in range(_LANES):
                    cx[f] = nx[f]
            for f in range(nb):
                out[t0 + f, 0] = out[t0 + f, 0] * np.float32(2)
                out[t0 + f, NB_BANDS - 1] = cx[f] * np.float32(2)

    return band_energy_windowed


band_energy_windowed = _build_band_energy(deps_key())
