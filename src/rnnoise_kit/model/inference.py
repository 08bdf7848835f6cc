"""Network inference, float32-exact to librnnoise v0.1.1's ``compute_rnn`` (spec 10.3, 10.4).

Weights are int8 converted exactly to float32; every output's sum is one sequential float32
accumulator that starts at the bias, adds the input terms in order, then the recurrent terms
(the reset gate multiplied term by term, ``(U*h[j])*r[j]``). The loops run ``j`` outer and
``i`` inner, which keeps each output's order and lets the compiler use SIMD across outputs;
numba never contracts to FMA (``fastmath`` is off), so results match a non-FMA C build.

Two levels of API:

* :class:`Network` (``process`` for whole sequences, ``process_frame`` per frame, both with an
  explicit :class:`RNNState`), and :func:`run_network` for one call over a sequence.
* For other numba code (the denoiser loop): :attr:`Network.weights` / :attr:`Network.meta`
  and the jitted :func:`rnn_frame` ``(weights, meta, state, features, gains, scratch) -> vad``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from rnnoise_kit.dsp.constants import NB_BANDS, NB_FEATURES
from rnnoise_kit.model.core import Activation, RNNoiseModel
from rnnoise_kit.model.tansig import TANSIG_TABLE

__all__ = [
    "Network",
    "NetworkOutput",
    "RNNState",
    "run_network",
    "rnn_frame",
    "rnn_sequence",
    "tansig_approx",
    "sigmoid_approx",
    "scratch_size",
]

_T = np.asarray(TANSIG_TABLE, dtype=np.float32).copy()
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F05 = np.float32(0.5)
_F8 = np.float32(8.0)
_F25 = np.float32(25.0)
_F004 = np.float32(0.04)
_S = np.float32(1.0 / 256)

# meta layout: 6 layers x [offset W, offset U, offset b, nb_inputs, nb_neurons, activation]
_ID, _VG, _NG, _DG, _DO, _VO = 0, 1, 2, 3, 4, 5
_META_COLS = 6


@numba.njit(cache=True)
def _scratch_parts(meta):
    """Lengths of the accumulator (also the gates), the dense output and the concatenated
    GRU input that :func:`rnn_frame` keeps in its scratch buffer, for the model of ``meta``."""
    units = 0
    inputs = 0
    for k in range(meta.shape[0]):
        units = max(units, meta[k, 4])
        inputs = max(inputs, meta[k, 3])
    return 3 * units, meta[_ID, 4], inputs


@numba.njit(cache=True)
def scratch_size(meta):
    """Length of the float32 scratch buffer :func:`rnn_frame` needs for the model of ``meta``
    (:attr:`Network.meta`): 1281 for the v0.1 sizes, more for a larger network."""
    acc, dense, cat = _scratch_parts(meta)
    return 2 * acc + dense + cat + 1


@numba.njit(cache=True)
def _tansig(x):
    # Branch-free form of spec 10.4 (selects instead of jumps, so loops vectorise):
    # |x| < 8 uses the table; x >= 8 or NaN gives 1, x <= -8 gives -1.
    neg = x < _F0
    sign = -_F1 if neg else _F1
    ax = -x if neg else x
    ok = ax < _F8
    ax = ax if ok else _F0
    i = np.int32(_F05 + _F25 * ax)  # truncation == floor for a non-negative value
    d = ax - _F004 * np.float32(i)
    y = _T[i]
    dy = _F1 - y * y
    y = y + (d * dy) * (_F1 - y * d)
    y = sign * y
    if not ok:
        y = -_F1 if x <= -_F8 else _F1
    return y


@numba.njit(cache=True)
def _sigmoid(x):
    t = _tansig(np.float32(0.5 * np.float64(x)))
    return np.float32(0.5 + 0.5 * np.float64(t))


@numba.njit(cache=True)
def _activate_into(acc, out, n, act):
    """``out[i] = act(s * acc[i])`` for i < n, one loop per activation kind."""
    if act == Activation.SIGMOID:
        for i in range(n):
            out[i] = _sigmoid(_S * acc[i])
    elif act == Activation.RELU:
        for i in range(n):
            v = _S * acc[i]
            out[i] = _F0 if v < _F0 else v
    else:
        for i in range(n):
            out[i] = _tansig(_S * acc[i])


@numba.njit(cache=True)
def tansig_approx(x):
    """``tansig_approx`` of ``src/rnn.c`` on a float32 scalar."""
    return _tansig(np.float32(x))


@numba.njit(cache=True)
def sigmoid_approx(x):
    """``sigmoid_approx`` of ``src/rnn.c`` on a float32 scalar."""
    return _sigmoid(np.float32(x))


@numba.njit(cache=True)
def _mac(wm, c0, nc, x, m, acc):
    """``acc[i] += wm[j, c0 + i] * x[j]`` for j = 0..m-1 in order, i < nc.

    Four rows per pass: ``(((acc + t0) + t1) + t2) + t3`` keeps each output's sequential order
    while touching ``acc`` a quarter as often. Rows are taken as 1-D views so that the inner
    loop indexes with the loop counter only (no wraparound checks, so it vectorises).
    """
    c1 = c0 + nc
    j = 0
    while j + 4 <= m:
        x0 = x[j]
        x1 = x[j + 1]
        x2 = x[j + 2]
        x3 = x[j + 3]
        w0 = wm[j, c0:c1]
        w1 = wm[j + 1, c0:c1]
        w2 = wm[j + 2, c0:c1]
        w3 = wm[j + 3, c0:c1]
        for i in range(nc):
            acc[i] = (((acc[i] + w0[i] * x0) + w1[i] * x1) + w2[i] * x2) + w3[i] * x3
        j += 4
    while j < m:
        xj = x[j]
        w0 = wm[j, c0:c1]
        for i in range(nc):
            acc[i] += w0[i] * xj
        j += 1


@numba.njit(cache=True)
def _mac_reset(wm, c0, nc, h, r, m, acc):
    """``acc[i] += (wm[j, c0 + i] * h[j]) * r[j]`` for j in order (the GRU candidate)."""
    c1 = c0 + nc
    j = 0
    while j + 4 <= m:
        h0 = h[j]
        h1 = h[j + 1]
        h2 = h[j + 2]
        h3 = h[j + 3]
        r0 = r[j]
        r1 = r[j + 1]
        r2 = r[j + 2]
        r3 = r[j + 3]
        w0 = wm[j, c0:c1]
        w1 = wm[j + 1, c0:c1]
        w2 = wm[j + 2, c0:c1]
        w3 = wm[j + 3, c0:c1]
        for i in range(nc):
            acc[i] = (((acc[i] + (w0[i] * h0) * r0) + (w1[i] * h1) * r1) + (w2[i] * h2) * r2) + (
                w3[i] * h3
            ) * r3
        j += 4
    while j < m:
        hj = h[j]
        rj = r[j]
        w0 = wm[j, c0:c1]
        for i in range(nc):
            acc[i] += (w0[i] * hj) * rj
        j += 1


@numba.njit(cache=True)
def _dense(w, ow, ob, m, n, act, x, out, acc):
    wm = w[ow : ow + m * n].reshape((m, n))
    bias = w[ob : ob + n]
    for i in range(n):
        acc[i] = bias[i]
    _mac(wm, 0, n, x, m, acc)
    _activate_into(acc, out, n, act)


@numba.njit(cache=True)
def _gru(w, ow, ou, ob, m, n, act, x, h, acc, gate):
    k = 3 * n
    n2 = 2 * n
    wm = w[ow : ow + m * k].reshape((m, k))
    um = w[ou : ou + n * k].reshape((n, k))
    bias = w[ob : ob + k]
    for i in range(k):
        acc[i] = bias[i]
    _mac(wm, 0, k, x, m, acc)
    _mac(um, 0, n2, h, n, acc)
    _activate_into(acc, gate, n2, 1)
    _mac_reset(um, n2, n, h, gate[n:n2], n, acc[n2:k])
    cand = gate[n2 : n2 + n]
    _activate_into(acc[n2:k], cand, n, act)
    for i in range(n):
        z = gate[i]
        h[i] = z * h[i] + (_F1 - z) * cand[i]


@numba.njit(cache=True)
def _frame(w, meta, state, features, gains, scratch, nd, nv, nn, ng):
    # nd, nv, nn, ng: units of input_dense and the three GRUs.
    nf = NB_FEATURES
    vad_h = state[0:nv]
    noise_h = state[nv : nv + nn]
    den_h = state[nv + nn : nv + nn + ng]
    na, nz, nc = _scratch_parts(meta)
    acc = scratch[0:na]
    gate = scratch[na : 2 * na]
    dense_out = scratch[2 * na : 2 * na + nz]
    cat = scratch[2 * na + nz : 2 * na + nz + nc]
    vad = scratch[2 * na + nz + nc : 2 * na + nz + nc + 1]
    _dense(w, meta[_ID, 0], meta[_ID, 2], nf, nd, meta[_ID, 5], features, dense_out, acc)
    _gru(
        w,
        meta[_VG, 0],
        meta[_VG, 1],
        meta[_VG, 2],
        nd,
        nv,
        meta[_VG, 5],
        dense_out,
        vad_h,
        acc,
        gate,
    )
    _dense(w, meta[_VO, 0], meta[_VO, 2], nv, 1, meta[_VO, 5], vad_h, vad, acc)
    for i in range(nd):
        cat[i] = dense_out[i]
    for i in range(nv):
        cat[nd + i] = vad_h[i]
    for i in range(nf):
        cat[nd + nv + i] = features[i]
    _gru(
        w,
        meta[_NG, 0],
        meta[_NG, 1],
        meta[_NG, 2],
        nd + nv + nf,
        nn,
        meta[_NG, 5],
        cat,
        noise_h,
        acc,
        gate,
    )
    for i in range(nv):
        cat[i] = vad_h[i]
    for i in range(nn):
        cat[nv + i] = noise_h[i]
    for i in range(nf):
        cat[nv + nn + i] = features[i]
    _gru(
        w,
        meta[_DG, 0],
        meta[_DG, 1],
        meta[_DG, 2],
        nv + nn + nf,
        ng,
        meta[_DG, 5],
        cat,
        den_h,
        acc,
        gate,
    )
    _dense(w, meta[_DO, 0], meta[_DO, 2], ng, NB_BANDS, meta[_DO, 5], den_h, gains, acc)
    return vad[0]


@numba.njit(cache=True)
def rnn_frame(w, meta, state, features, gains, scratch):
    """One ``compute_rnn``: update ``state`` in place, write 22 gains, return the VAD.

    Parameters
    ----------
    w : float32[:]
        Packed weights (:attr:`Network.weights`).
    meta : int64[:, :]
        Layer table (:attr:`Network.meta`).
    state : float32[:]
        The three GRU states back to back (vad, noise, denoise).
    features : float32[:]
        42 input features.
    gains : float32[:]
        Output, 22 band gains.
    scratch : float32[:]
        Work space of at least :func:`scratch_size` floats.
    """
    nd = meta[_ID, 4]
    nv = meta[_VG, 4]
    nn = meta[_NG, 4]
    ng = meta[_DG, 4]
    return _frame(w, meta, state, features, gains, scratch, nd, nv, nn, ng)


@numba.njit(cache=True)
def rnn_sequence(w, meta, state, features, silent, gains, vad):
    """Run :func:`rnn_frame` over ``features`` (n, 42); silent frames give 0, state untouched."""
    scratch = np.zeros(scratch_size(meta), np.float32)
    for t in range(features.shape[0]):
        if silent[t]:
            for b in range(gains.shape[1]):
                gains[t, b] = _F0
            vad[t] = _F0
        else:
            vad[t] = rnn_frame(w, meta, state, features[t], gains[t], scratch)


def _pack(model: RNNoiseModel) -> tuple[np.ndarray, np.ndarray]:
    chunks: list[np.ndarray] = []
    meta = np.zeros((6, _META_COLS), dtype=np.int64)
    off = 0
    for k, (_, lay) in enumerate(model.layers()):
        row = [0, 0, 0, lay.nb_inputs, lay.nb_neurons, int(lay.activation)]
        for col, arr in ((0, lay.input_weights), (1, lay.recurrent_weights), (2, lay.bias)):
            if arr is None:
                continue
            row[col] = off
            chunks.append(arr.astype(np.float32))
            off += arr.size
        meta[k] = row
    w = np.concatenate(chunks).astype(np.float32)
    w.setflags(write=False)
    meta.setflags(write=False)
    return w, meta


@dataclass
class RNNState:
    """The three GRU states of ``struct RNNState``, stored back to back in ``buffer``.

    Create one with :meth:`Network.new_state` (all zero, as after ``rnnoise_init``).
    """

    buffer: np.ndarray
    sizes: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.buffer.dtype != np.float32 or self.buffer.ndim != 1:
            raise TypeError("RNNState.buffer must be a 1-D float32 array")
        if self.buffer.size != sum(self.sizes):
            raise ValueError(
                f"RNNState.buffer has {self.buffer.size} values, need {sum(self.sizes)}"
            )

    @classmethod
    def zeros(cls, sizes: tuple[int, int, int] = (24, 48, 96)) -> RNNState:
        return cls(np.zeros(sum(sizes), np.float32), tuple(int(s) for s in sizes))

    @property
    def vad_gru(self) -> np.ndarray:
        """View of the vad_gru state (24)."""
        return self.buffer[: self.sizes[0]]

    @property
    def noise_gru(self) -> np.ndarray:
        """View of the noise_gru state (48)."""
        return self.buffer[self.sizes[0] : self.sizes[0] + self.sizes[1]]

    @property
    def denoise_gru(self) -> np.ndarray:
        """View of the denoise_gru state (96)."""
        return self.buffer[self.sizes[0] + self.sizes[1] :]

    def copy(self) -> RNNState:
        return RNNState(self.buffer.copy(), self.sizes)

    def reset(self) -> None:
        """Zero the states in place."""
        self.buffer[:] = 0


@dataclass(frozen=True)
class NetworkOutput:
    """Result of :meth:`Network.process`: ``gains`` (n, 22) and ``vad`` (n,), float32."""

    gains: np.ndarray
    vad: np.ndarray


class Network:
    """A model ready for inference (weights packed as float32 for the jitted kernels).

    Parameters
    ----------
    model : RNNoiseModel
        Any valid model; the activations of each layer are taken from it.
    """

    def __init__(self, model: RNNoiseModel):
        self.model = model
        self.weights, self.meta = _pack(model)
        self.state_sizes = (
            model.vad_gru.nb_neurons,
            model.noise_gru.nb_neurons,
            model.denoise_gru.nb_neurons,
        )
        self._scratch = np.zeros(scratch_size(self.meta), np.float32)

    def new_state(self) -> RNNState:
        """A zero state (as after ``rnnoise_init``)."""
        return RNNState.zeros(self.state_sizes)

    def _check_state(self, state: RNNState) -> None:
        if tuple(state.sizes) != self.state_sizes:
            raise ValueError(f"state sizes {state.sizes} do not fit this model {self.state_sizes}")

    def process_frame(
        self, features: np.ndarray, state: RNNState, gains: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Run the network on one frame, updating ``state`` in place.

        Parameters
        ----------
        features : array (42,)
            Input features (converted to float32).
        state : RNNState
            GRU states, carried from frame to frame.
        gains : float32 array (22,), optional
            Output buffer.

        Returns
        -------
        gains : numpy.ndarray
            22 band gains, float32.
        vad : float
            VAD probability (a float32 value).
        """
        self._check_state(state)
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.shape != (NB_FEATURES,):
            raise ValueError(f"features must have shape (42,), got {x.shape}")
        if gains is None:
            gains = np.empty(NB_BANDS, np.float32)
        vad = rnn_frame(self.weights, self.meta, state.buffer, x, gains, self._scratch)
        return gains, float(vad)

    def process(
        self,
        features: np.ndarray,
        silent: np.ndarray | None = None,
        state: RNNState | None = None,
    ) -> NetworkOutput:
        """Run the network over a feature sequence, frame by frame, carrying the state.

        Parameters
        ----------
        features : array (n, 42)
            Input features.
        silent : bool array (n,), optional
            Frames the DSP treated as silent: the network is not run (gains 0, VAD 0) and
            the state is left untouched, as in ``rnnoise_process_frame``.
        state : RNNState, optional
            Start state, updated in place; a zero state when omitted.

        Returns
        -------
        NetworkOutput
            ``gains`` (n, 22) and ``vad`` (n,), float32.
        """
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != NB_FEATURES:
            raise ValueError(f"features must have shape (n, 42), got {x.shape}")
        n = x.shape[0]
        if silent is None:
            mask = np.zeros(n, dtype=np.bool_)
        else:
            mask = np.ascontiguousarray(silent, dtype=np.bool_).reshape(-1)
            if mask.size != n:
                raise ValueError(f"silent has {mask.size} values for {n} frames")
        if state is None:
            state = self.new_state()
        self._check_state(state)
        gains = np.empty((n, NB_BANDS), np.float32)
        vad = np.empty(n, np.float32)
        rnn_sequence(self.weights, self.meta, state.buffer, x, mask, gains, vad)
        return NetworkOutput(gains, vad)


def run_network(
    model: RNNoiseModel | Network,
    features: np.ndarray,
    silent: np.ndarray | None = None,
    state: RNNState | None = None,
) -> NetworkOutput:
    """Offline inference: ``Network(model).process(features, silent, state)``.

    Parameters
    ----------
    model : RNNoiseModel or Network
        The model.
    features : array (n, 42)
        Input features.
    silent : bool array (n,), optional
        Silent frames (network skipped, outputs 0, state untouched).
    state : RNNState, optional
        Start state, updated in place.

    Returns
    -------
    NetworkOutput
        ``gains`` (n, 22) and ``vad`` (n,), float32.
    """
    net = model if isinstance(model, Network) else Network(model)
    return net.process(features, silent, state)
