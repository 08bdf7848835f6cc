"""RNNoiseModel structure, validation, float access and quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from rnnoise_kit.model import (
    LAYER_NAMES,
    STANDARD_SIZES,
    Activation,
    Layer,
    RNNoiseModel,
    TopologyError,
    quantize,
)


def random_model(
    seed: int = 0,
    sizes: tuple[int, int, int, int] = (24, 24, 48, 96),
    acts=("tanh", "relu", "relu", "relu", "sigmoid", "sigmoid"),
) -> RNNoiseModel:
    """A valid model with random int8 weights (any consistent hidden sizes)."""
    rng = np.random.default_rng(seed)
    d, v, n, g = sizes
    dims = {
        "input_dense": (42, d),
        "vad_gru": (d, v),
        "noise_gru": (d + v + 42, n),
        "denoise_gru": (v + n + 42, g),
        "denoise_output": (g, 22),
        "vad_output": (v, 1),
    }
    layers = {}
    for name, act in zip(LAYER_NAMES, acts, strict=True):
        m, u = dims[name]
        k = 3 if name.endswith("gru") else 1

        def r(size):
            return rng.integers(-128, 128, size=size).astype(np.int8)

        layers[name] = Layer(m, u, act, r(k * m * u), r(k * u), r(k * u * u) if k == 3 else None)
    return RNNoiseModel(**layers)


def test_standard_sizes_and_parameter_count():
    m = random_model()
    assert m.is_standard
    assert m.n_parameters == 87503
    assert {k: (lay.nb_inputs, lay.nb_neurons) for k, lay in m.layers()} == STANDARD_SIZES


def test_activation_parse():
    assert Activation.parse("ReLU") is Activation.RELU
    assert Activation.parse(1) is Activation.SIGMOID
    with pytest.raises(ValueError):
        Activation.parse("linear")
    with pytest.raises(ValueError):
        Activation.parse(3)


def test_validation_names_layer_and_expectation():
    m = random_model()
    lay = m.noise_gru
    bad = Layer(
        80, 48, lay.activation, np.zeros(3 * 80 * 48, np.int8), lay.bias, lay.recurrent_weights
    )
    layers = dict(m.layers())
    layers["noise_gru"] = bad
    with pytest.raises(TopologyError, match=r"noise_gru.*80->48, expected 90->48"):
        RNNoiseModel(**layers)
    layers = dict(m.layers())
    layers["vad_output"] = Layer(24, 1, 1, np.zeros(23, np.int8), np.zeros(1, np.int8))
    with pytest.raises(TopologyError, match="vad_output: weights has 23 values, expected 24"):
        RNNoiseModel(**layers)
    layers = dict(m.layers())
    layers["vad_gru"] = m.input_dense
    with pytest.raises(TopologyError, match="vad_gru: expected a GRU"):
        RNNoiseModel(**layers)


def test_max_neurons():
    # FFmpeg and librnnoise load up to 128 (test_training_sizes); rnnoise-kit runs more
    assert "200 units, more than 128" in random_model(sizes=(24, 24, 48, 200)).reader_problem()
    with pytest.raises(TopologyError, match="1..1024"):
        random_model(sizes=(24, 24, 48, 1025))


def test_nonstandard_consistent_sizes_are_allowed():
    m = random_model(sizes=(16, 8, 32, 40))
    assert not m.is_standard


def test_float_round_trip_is_exact():
    m = random_model(3)
    arrays = m.to_float_arrays()
    assert arrays["denoise_gru"]["kernel"].shape == (114, 288)
    assert arrays["denoise_gru"]["recurrent_kernel"].shape == (96, 288)
    assert arrays["vad_output"]["bias"].shape == (1,)
    m2 = RNNoiseModel.from_float_arrays(arrays, [a for a in m.activations.values()])
    assert m2.equals(m)


def test_from_float_arrays_needs_activations():
    arrays = random_model().to_float_arrays()
    with pytest.raises(TopologyError, match="no activation"):
        RNNoiseModel.from_float_arrays(arrays, {})


def test_quantize_rounds_half_away_from_zero_and_clamps_top_only():
    w = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 127.4, 127.5, 200, -127.5, -128.4], np.float64)
    q = quantize(w / 256)
    assert q.tolist() == [1, -1, 2, -2, 3, 127, 127, 127, -128, -128]
    with pytest.raises(TopologyError, match="below -128"):
        quantize(np.array([-128.5 / 256]))
    with pytest.raises(TopologyError, match="NaN"):
        quantize(np.array([np.nan]))


def test_gru_layers_keep_file_order_in_every_process():
    """The trainer and the CLI map the three GRU activations to layers in GRU_LAYERS order;
    a set would iterate in an order that changes with the string hash seed of the process."""
    import os
    import subprocess
    import sys

    code = ("from rnnoise_kit.model.core import GRU_LAYERS; print(','.join(GRU_LAYERS))")
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == "vad_gru,noise_gru,denoise_gru", (seed, out)


def test_recipe_activation_names_are_those_of_the_codes():
    """training.recipe restates the names (it imports without numpy); they must not drift."""
    from rnnoise_kit.training.recipe import ACTIVATIONS

    assert ACTIVATIONS == tuple(a.label for a in Activation)
    assert [int(a) for a in Activation] == list(range(len(ACTIVATIONS)))
