"""RNNoise 0.2's ``rnnoise_process_frame`` for a few frames in one compiled call (streaming).

:meth:`rnnoise_kit.denoise.FrameProcessor02.process` composes the block functions (analysis,
network, post-filter, synthesis), each a numba kernel behind a Python wrapper that checks its
inputs and allocates its outputs. Over a block of hundreds of frames that costs nothing; for one
10 ms frame the wrappers cost about as much as the DSP itself. :func:`process_frames_fused` runs
the same kernels, in the same order, inside one numba function, on the state arrays in place, so
it gives the block path's bits by construction (``tests/test_frame02.py`` also compares the two).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from rnnoise_kit.dsp import _block
from rnnoise_kit.dsp._block import deps_key
from rnnoise_kit.dsp._kernels import biquad_into, overlap_add
from rnnoise_kit.dsp._kissfft import inverse_batch
from rnnoise_kit.dsp.biquad import A_HP, B_HP
from rnnoise_kit.dsp.constants import FRAME_SIZE, FREQ_SIZE, PITCH_BUF_SIZE, WINDOW_SIZE
from rnnoise_kit.dsp.tables import WINDOW
from rnnoise_kit.dsp.v02 import _kernels as dsp_kernels
from rnnoise_kit.dsp.v02 import constants as dsp_constants
from rnnoise_kit.dsp.v02._kernels import analyse_block, postfilter_frames
from rnnoise_kit.dsp.v02.constants import NB_BANDS, NB_FEATURES
from rnnoise_kit.model.v02 import _kernels as net_kernels
from rnnoise_kit.model.v02._kernels import network_block

if TYPE_CHECKING:
    from rnnoise_kit.denoise import ChannelState02
    from rnnoise_kit.model.v02 import Network02

__all__ = ["MAX_FUSED_FRAMES", "fusable", "process_frames_fused"]

MAX_FUSED_FRAMES = 3
"""Most frames one fused call takes: from 4 frames on, the block path's network shares each read
of the weights among 4 frames (``linear_rows``), which is worth more than the wrappers cost."""


def _build(deps: int):
    @njit(cache=True, nogil=True, error_model="numpy")
    def run_frames(x, hp_mem, pitch_buf, last_period, last_gain,
                   conv1_mem, conv2_mem, gru, weights, biases, scales, diags, skip_heads,
                   dxf, dpf, dex, dep, dexp, lastg, synthesis_mem, gain_floor, out, vad):
        """Frames of ``x`` (480 n,) one at a time: high-pass and analysis
        (``analyse_block``), the network on non-silent frames (``network_block``), the floor,
        the post-filter (``postfilter_frames``), synthesis. Writes ``out`` (480 n,) and ``vad``
        (n,); every state array is updated in place. Returns (last_period, last_gain)."""
        taps = conv1_mem.shape[0]
        g = gru.shape[1]
        xp = np.empty(PITCH_BUF_SIZE + FRAME_SIZE + 0 * deps, dtype=np.float32)
        lowpass = np.full(1, FREQ_SIZE, dtype=np.int64)
        xf = np.empty((1, 2 * FREQ_SIZE), dtype=np.float32)
        pf = np.empty((1, 2 * FREQ_SIZE), dtype=np.float32)
        ex = np.empty((1, NB_BANDS), dtype=np.float32)
        ep = np.empty((1, NB_BANDS), dtype=np.float32)
        exp_ = np.empty((1, NB_BANDS), dtype=np.float32)
        feats = np.empty((1, NB_FEATURES), dtype=np.float32)
        silence = np.empty(1, dtype=np.bool_)
        periods = np.empty(1, dtype=np.int32)
        pitch_gains = np.empty(1, dtype=np.float32)
        energy = np.empty(1, dtype=np.float32)
        win1 = np.empty((1 + taps, conv1_mem.shape[1]), dtype=np.float32)
        win2 = np.empty((1 + taps, conv2_mem.shape[1]), dtype=np.float32)
        qbuf = np.empty((1 + taps) * max(conv2_mem.shape[1], 4 * g), dtype=np.float32)
        cat = np.empty((1, 4 * g), dtype=np.float32)
        proj = np.empty((1, 3 * g), dtype=np.float32)
        rec = np.empty(3 * g, dtype=np.float32)
        sq = np.empty(g, dtype=np.float32)
        gains = np.empty((1, NB_BANDS), dtype=np.float32)
        frame_vad = np.empty((1, 1), dtype=np.float32)
        spectrum = np.empty((1, 2 * FREQ_SIZE), dtype=np.float32)
        y = np.empty((1, WINDOW_SIZE), dtype=np.float32)
        floor = np.float32(gain_floor)
        for t in range(x.shape[0] // FRAME_SIZE):
            xp[:PITCH_BUF_SIZE] = pitch_buf
            biquad_into(x[t * FRAME_SIZE : (t + 1) * FRAME_SIZE], hp_mem, B_HP[0], B_HP[1],
                        A_HP[0], A_HP[1], xp[PITCH_BUF_SIZE:])
            last_period, last_gain = analyse_block(
                xp, 1, last_period, last_gain, False, lowpass, xf, pf, ex, ep, exp_, feats,
                silence, periods, pitch_gains, energy)
            pitch_buf[:] = xp[FRAME_SIZE:]
            if silence[0]:
                # rnnoise_process_frame does not run the network: state kept, gains/VAD 0
                gains[:] = 0
                frame_vad[0, 0] = 0
            else:
                network_block(feats, 1, conv1_mem, conv2_mem, gru, weights, biases, scales,
                              diags, skip_heads, win1, win2, qbuf, cat, proj, rec, sq, gains,
                              frame_vad)
            if gain_floor > 0:
                # floor_gains: max(g, float32(floor))
                for b in range(NB_BANDS):
                    gains[0, b] = max(gains[0, b], floor)
            postfilter_frames(xf, pf, ex, ep, exp_, silence, gains, dxf, dpf, dex, dep, dexp,
                              lastg, spectrum)
            # synthesize(): inverse transform, times the window, overlap-add
            inverse_batch(spectrum, y)
            for i in range(WINDOW_SIZE):
                y[0, i] = y[0, i] * WINDOW[i]
            out[t * FRAME_SIZE : (t + 1) * FRAME_SIZE] = overlap_add(y, synthesis_mem)
            vad[t] = frame_vad[0, 0]
        return last_period, last_gain

    return run_frames


_run_frames = _build(deps_key(sys.modules[__name__], sys.modules["rnnoise_kit.dsp.biquad"], _block,
                              dsp_kernels, dsp_constants, net_kernels))


def _kernel_ready(a: np.ndarray, dtype, shape: tuple[int, ...]) -> bool:
    return (a.dtype == dtype and a.shape == shape and a.flags.c_contiguous
            and a.flags.writeable)


def fusable(net: Network02, x: np.ndarray, state: ChannelState02) -> bool:
    """Whether :func:`process_frames_fused` takes this call: at most :data:`MAX_FUSED_FRAMES`
    whole frames of float32, and every state array in the form the kernels update in place
    (a fresh or block-processed state always is; anything else goes through the block path,
    which normalises it)."""
    if x.dtype != np.float32 or x.ndim != 1 or not x.flags.c_contiguous or \
            x.shape[0] % FRAME_SIZE or x.shape[0] > MAX_FUSED_FRAMES * FRAME_SIZE:
        return False
    an, pf, rnn = state.analysis, state.postfilter, state.rnn
    f32, c64 = np.dtype(np.float32), np.dtype(np.complex64)
    lay = net.layers
    checks = [(an.hp_mem, f32, (2,)), (an.pitch_buf, f32, (PITCH_BUF_SIZE,)),
              (pf.X, c64, (FREQ_SIZE,)), (pf.P, c64, (FREQ_SIZE,)),
              (pf.Ex, f32, (NB_BANDS,)), (pf.Ep, f32, (NB_BANDS,)), (pf.Exp, f32, (NB_BANDS,)),
              (pf.lastg, f32, (NB_BANDS,)), (state.synthesis_mem, f32, (FRAME_SIZE,))]
    if rnn is not None:
        taps = rnn.conv1_mem.shape[0]
        checks += [(rnn.conv1_mem, f32, (taps, lay.nb_features)),
                   (rnn.conv2_mem, f32, (taps, lay.conv1_size)),
                   (rnn.gru, f32, (3, lay.gru_size))]
    return all(_kernel_ready(a, dtype, shape) for a, dtype, shape in checks)


def process_frames_fused(
    net: Network02, x: np.ndarray, state: ChannelState02, gain_floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`rnnoise_kit.denoise.FrameProcessor02.process` in one compiled call (same bits).

    Parameters
    ----------
    net : Network02
    x : np.ndarray, float32, shape (480 n,)
        n <= :data:`MAX_FUSED_FRAMES` frames in int16 scale, C-contiguous
        (:func:`fusable` says whether a call qualifies).
    state : ChannelState02
        Updated in place (its arrays too: ``pitch_buf`` and ``synthesis_mem`` are overwritten
        rather than replaced).
    gain_floor : float
        As in :meth:`~rnnoise_kit.denoise.FrameProcessor02.process`.

    Returns
    -------
    out : np.ndarray, float32, shape (480 n,)
    vad : np.ndarray, float32, shape (n,)
    """
    if state.rnn is None:
        state.rnn = net.new_state()
    an, pf, rnn = state.analysis, state.postfilter, state.rnn
    n = x.shape[0] // FRAME_SIZE
    out = np.empty(n * FRAME_SIZE, dtype=np.float32)
    vad = np.empty(n, dtype=np.float32)
    period, gain = _run_frames(
        x, an.hp_mem, an.pitch_buf, int(an.last_period), np.float32(an.last_gain),
        rnn.conv1_mem, rnn.conv2_mem, rnn.gru, *net.packed, net.layers.skip_heads,
        pf.X.view(np.float32), pf.P.view(np.float32), pf.Ex, pf.Ep, pf.Exp, pf.lastg,
        state.synthesis_mem, float(gain_floor), out, vad)
    an.last_period = int(period)
    an.last_gain = np.float32(gain)
    return out, vad
