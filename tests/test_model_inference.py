"""Network inference: parity with the C reference, the NumPy reference, APIs and activations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnoise_kit.model import Network, RNNState, load_model, run_network
from rnnoise_kit.model.inference import sigmoid_approx, tansig_approx
from rnnoise_kit.model.reference import run_network_ref, sigmoid_ref, tansig_ref
from rnnoise_kit.model.tansig import TANSIG_TABLE
from test_model_core import random_model

f32 = np.float32


def _frames(reference, name):
    return np.fromfile(reference / "c" / f"frames_{name}.f32", dtype=np.float32).reshape(-1, 89)


@pytest.mark.parametrize("frames,name", [("a_std", "std"), ("a_sh", "sh"), ("gap_std", "std")])
def test_parity_with_c_reference(reference, frames, name):
    fr = _frames(reference, frames)
    model = load_model(reference / "models" / f"{name}.rnnn")
    silent = fr[:, 65] != 0
    out = run_network(model, fr[:, :42], silent)
    assert np.abs(out.gains - fr[:, 42:64]).max() <= 1e-6
    assert np.abs(out.vad - fr[:, 64]).max() <= 1e-6
    # in practice bit for bit
    assert np.array_equal(out.gains, fr[:, 42:64])
    assert np.array_equal(out.vad, fr[:, 64])


def test_silent_frames_skip_network_and_keep_state(reference):
    fr = _frames(reference, "a_std")[:300]
    model = load_model(reference / "models" / "std.rnnn")
    silent = np.zeros(len(fr), bool)
    silent[50:60] = True
    silent[200] = True
    out = run_network(model, fr[:, :42], silent)
    assert not out.gains[silent].any() and not out.vad[silent].any()
    # same as running only the non-silent frames back to back
    kept = run_network(model, fr[~silent, :42])
    assert np.array_equal(out.gains[~silent], kept.gains)
    assert np.array_equal(out.vad[~silent], kept.vad)


def test_per_frame_api_matches_offline(reference):
    fr = _frames(reference, "a_sh")[:200]
    net = Network(load_model(reference / "models" / "sh.rnnn"))
    off = net.process(fr[:, :42])
    state = net.new_state()
    assert isinstance(state, RNNState) and state.vad_gru.shape == (24,)
    for t in range(len(fr)):
        g, v = net.process_frame(fr[t, :42], state)
        assert np.array_equal(g, off.gains[t]) and v == off.vad[t]
    # a state carried from one call to the next continues the sequence
    s2 = net.new_state()
    a = net.process(fr[:120, :42], state=s2)
    b = net.process(fr[120:, :42], state=s2)
    assert np.array_equal(np.vstack([a.gains, b.gains]), off.gains)
    assert np.array_equal(s2.buffer, state.buffer)


@pytest.mark.parametrize(
    "sizes,acts",
    [
        ((24, 24, 48, 96), ("tanh", "relu", "relu", "relu", "sigmoid", "sigmoid")),
        ((24, 24, 48, 96), ("tanh", "tanh", "relu", "tanh", "sigmoid", "sigmoid")),
        ((16, 8, 33, 40), ("sigmoid", "sigmoid", "tanh", "relu", "tanh", "relu")),
    ],
)
def test_numba_matches_numpy_reference(sizes, acts):
    model = random_model(7, sizes, acts)
    rng = np.random.default_rng(1)
    feats = (rng.standard_normal((60, 42)) * 3).astype(np.float32)
    feats[5, 3] = np.nan  # NaN propagation must match too
    silent = rng.random(60) < 0.2
    out = run_network(model, feats, silent)
    g, v = run_network_ref(model, feats, silent)
    np.testing.assert_array_equal(out.gains, g)
    np.testing.assert_array_equal(out.vad, v)


def test_tansig_table_values():
    assert TANSIG_TABLE.dtype == np.float32 and TANSIG_TABLE.size == 201
    assert TANSIG_TABLE[70] == f32(0.992631)
    assert TANSIG_TABLE[170] == f32(0.999997)
    assert TANSIG_TABLE[190] == f32(1.0)
    for i in (0, 1, 25, 100, 199):
        assert TANSIG_TABLE[i] == f32(round(math.tanh(0.04 * i), 6))


def test_activations_match_scalar_reference():
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [
            (rng.standard_normal(3000) * 4).astype(np.float32),
            np.float32([0.0, -0.0, 8.0, -8.0, 7.9999995, -7.9999995, 1e-40, -1e-40, 100, -100]),
            np.float32([np.inf, -np.inf, np.nan]),
        ]
    )
    for x in xs:
        a, b = tansig_approx(x), tansig_ref(x)
        assert a == b or (np.isnan(a) and np.isnan(b)), x
        assert np.signbit(a) == np.signbit(b), x
        assert sigmoid_approx(x) == sigmoid_ref(x), x
    assert tansig_approx(f32(np.nan)) == 1  # C returns 1 for NaN


def test_input_checks():
    net = Network(random_model())
    with pytest.raises(ValueError, match="42"):
        net.process(np.zeros((3, 41)))
    with pytest.raises(ValueError, match="silent"):
        net.process(np.zeros((3, 42)), np.zeros(2, bool))
    with pytest.raises(ValueError, match="state sizes"):
        net.process(np.zeros((3, 42)), state=RNNState.zeros((8, 8, 8)))
