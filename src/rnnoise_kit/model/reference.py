"""A slow, literal NumPy version of ``compute_rnn`` to test the numba kernels against.

Each output's sum is built as a column of terms (bias first, then input terms, then
recurrent terms) and summed with ``np.add.accumulate`` along that column, which is strictly
sequential in float32. Activations are scalar float32 code following spec 10.4 line by line.
"""

from __future__ import annotations

import math

import numpy as np

from rnnoise_kit.model.core import Activation, Layer, RNNoiseModel
from rnnoise_kit.model.tansig import TANSIG_TABLE

f32 = np.float32
_S = f32(1.0 / 256)

__all__ = ["tansig_ref", "sigmoid_ref", "compute_rnn_ref", "run_network_ref"]


def tansig_ref(x: np.float32) -> np.float32:
    """``tansig_approx`` (spec 10.4), scalar float32."""
    x = f32(x)
    if not (x < f32(8)):
        return f32(1)
    if not (x > f32(-8)):
        return f32(-1)
    sign = f32(1)
    if x < 0:
        x = -x
        sign = f32(-1)
    i = int(math.floor(f32(f32(0.5) + f32(f32(25) * x))))
    x = f32(x - f32(f32(0.04) * f32(i)))
    y = TANSIG_TABLE[i]
    dy = f32(f32(1) - f32(y * y))
    y = f32(y + f32(f32(x * dy) * f32(f32(1) - f32(y * x))))
    return f32(sign * y)


def sigmoid_ref(x: np.float32) -> np.float32:
    """``sigmoid_approx``: ``0.5 + 0.5*tansig(0.5*x)`` with the outer part in double."""
    return f32(0.5 + 0.5 * float(tansig_ref(f32(0.5 * float(x)))))


def _act(v: np.float32, act: Activation) -> np.float32:
    if act == Activation.SIGMOID:
        return sigmoid_ref(v)
    if act == Activation.RELU:
        return f32(0) if v < 0 else f32(v)
    return tansig_ref(v)


def _seqsum(terms: np.ndarray) -> np.ndarray:
    """Sequential float32 sum down axis 0 (row 0 is the starting value)."""
    return np.add.accumulate(terms.astype(f32), axis=0, dtype=f32)[-1]


def _dense_ref(lay: Layer, x: np.ndarray) -> np.ndarray:
    m, n = lay.nb_inputs, lay.nb_neurons
    w = lay.input_weights.reshape(m, n).astype(f32)
    terms = np.vstack([lay.bias.astype(f32)[None, :], w * x.astype(f32)[:, None]])
    s = _seqsum(terms)
    return np.array([_act(f32(_S * v), lay.activation) for v in s], dtype=f32)


def _gru_ref(lay: Layer, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    m, n = lay.nb_inputs, lay.nb_neurons
    w = lay.input_weights.reshape(m, 3 * n).astype(f32)
    u = lay.recurrent_weights.reshape(n, 3 * n).astype(f32)
    b = lay.bias.astype(f32)
    x = x.astype(f32)
    h = h.astype(f32)
    # z and r: bias, input terms, recurrent terms
    zr = np.vstack([b[None, : 2 * n], w[:, : 2 * n] * x[:, None], u[:, : 2 * n] * h[:, None]])
    zr = _seqsum(zr)
    gates = np.array([sigmoid_ref(f32(_S * v)) for v in zr], dtype=f32)
    z, r = gates[:n], gates[n:]
    rec = (u[:, 2 * n :] * h[:, None]).astype(f32) * r[:, None]
    cand = np.vstack([b[None, 2 * n :], w[:, 2 * n :] * x[:, None], rec])
    c = np.array([_act(f32(_S * v), lay.activation) for v in _seqsum(cand)], dtype=f32)
    return (z * h + (f32(1) - z) * c).astype(f32)


def compute_rnn_ref(
    model: RNNoiseModel, state: list[np.ndarray], features: np.ndarray
) -> tuple[np.ndarray, np.float32]:
    """One frame; ``state`` is ``[vad, noise, denoise]`` and is replaced in place."""
    x = np.asarray(features, dtype=f32)
    d = _dense_ref(model.input_dense, x)
    state[0] = _gru_ref(model.vad_gru, d, state[0])
    vad = _dense_ref(model.vad_output, state[0])[0]
    state[1] = _gru_ref(model.noise_gru, np.concatenate([d, state[0], x]), state[1])
    state[2] = _gru_ref(model.denoise_gru, np.concatenate([state[0], state[1], x]), state[2])
    return _dense_ref(model.denoise_output, state[2]), vad


def run_network_ref(
    model: RNNoiseModel, features: np.ndarray, silent: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sequence version of :func:`compute_rnn_ref` (zero start state, silent frames skipped)."""
    n = len(features)
    state = [
        np.zeros(model.vad_gru.nb_neurons, f32),
        np.zeros(model.noise_gru.nb_neurons, f32),
        np.zeros(model.denoise_gru.nb_neurons, f32),
    ]
    gains = np.zeros((n, model.denoise_output.nb_neurons), f32)
    vad = np.zeros(n, f32)
    for t in range(n):
        if silent is not None and silent[t]:
            continue
        gains[t], vad[t] = compute_rnn_ref(model, state, features[t])
    return gains, vad
