"""The 0.2 network on small random models, against a direct NumPy transcription of the scalar C
routines (``sgemv``, ``sparse_sgemv8x4``, ``cgemv8x4``, ``sparse_cgemv8x4``, ``compute_linear``,
``compute_generic_gru``/``conv1d``, ``compute_rnn``) that reads the raw 8x4 block formats itself.

NumPy float32 element-wise ``+`` and ``*`` round each operation (no FMA), and the reference adds
the terms of every output one input at a time in C's order, so equality is exact: any difference
is a bug in the layout conversion or in the order of operations. The blob itself is checked bit for
bit against the plain-C vectors in ``test_reference_v02_network.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.model.v02.blob import WeightRecord, WeightType
from rnnoise_kit.model.v02.model import RNNoise02Model, random_model
from rnnoise_kit.model.v02.network import (
    Network02,
    NetworkState02,
    layers_from_arrays,
    side_by_side,
)

F, C, G, B = 65, 16, 16, 32  # features, conv1 outputs, GRU units, bands
f32 = np.float32


# --- reference transcription of the scalar C code -----------------------------------------


def tanh_ref(x):
    x = x.astype(f32)
    x2 = x * x
    num = (f32(0.60863042) * x2 + f32(96.39235687)) * x2 + f32(952.52801514)
    den = (f32(11.88600922) * x2 + f32(413.36801147)) * x2 + f32(952.72399902)
    y = num * x / den
    y = np.where(f32(1) < y, f32(1), y)
    return np.where(f32(-1) > y, f32(-1), y).astype(f32)


def sigmoid_ref(x):
    return (f32(0.5) + f32(0.5) * tanh_ref(f32(0.5) * x.astype(f32))).astype(f32)


def quant_ref(x):
    return np.floor(0.5 + (f32(127) * x.astype(f32)).astype(np.float64)).astype(np.int64)


def sgemv_ref(w, n_in, n_out, x):
    out = np.zeros(n_out, f32)
    for j in range(n_in):
        out = out + w[j * n_out : (j + 1) * n_out] * x[j]
    return out


def sparse_sgemv_ref(w, idx, n_out, x):
    out = np.zeros(n_out, f32)
    p = b = 0
    for g in range(n_out // 8):
        count = idx[p]
        p += 1
        for _ in range(count):
            pos = idx[p]
            p += 1
            for k in range(4):
                rows = slice(8 * g, 8 * g + 8)
                out[rows] = out[rows] + w[b + 8 * k : b + 8 * k + 8] * x[pos + k]
            b += 32
    return out


def cgemv_ref(q, n_in, n_out, x, idx=None):
    """Integer products summed exactly (C's sums stay below 2**24), as float32."""
    xq = quant_ref(x)
    out = np.zeros(n_out, np.int64)
    b = p = 0
    for g in range(n_out // 8):
        if idx is None:
            offsets = range(0, n_in, 4)
        else:
            count = idx[p]
            offsets = idx[p + 1 : p + 1 + count]
            p += 1 + count
        for pos in offsets:
            tile = q[b : b + 32].astype(np.int64).reshape(8, 4)  # w[r*4 + k]
            out[8 * g : 8 * g + 8] += tile @ xq[pos : pos + 4]
            b += 32
    assert np.abs(out).max() < 2**24
    return out.astype(f32)


def linear_ref(arr, name, n_in, n_out, x, sparse=False):
    if f"{name}_weights_float" in arr:
        w = arr[f"{name}_weights_float"]
        if sparse:
            out = sparse_sgemv_ref(w, arr[f"{name}_weights_idx"], n_out, x)
        else:
            out = sgemv_ref(w, n_in, n_out, x)
    else:
        idx = arr[f"{name}_weights_idx"] if sparse else None
        out = cgemv_ref(arr[f"{name}_weights_int8"], n_in, n_out, x, idx) * arr[f"{name}_scale"]
    out = out + arr[f"{name}_bias"]
    if f"{name}_weights_diag" in arr:
        d = arr[f"{name}_weights_diag"]
        m = n_in
        for part in range(3):
            rows = slice(part * m, (part + 1) * m)
            out[rows] = out[rows] + d[rows] * x
    return out.astype(f32)


def gru_ref(arr, i, state, x):
    zrh = linear_ref(arr, f"gru{i}_input", G, 3 * G, x, sparse=True)
    rec = linear_ref(arr, f"gru{i}_recurrent", G, 3 * G, state, sparse=True)
    zr = sigmoid_ref(zrh[: 2 * G] + rec[: 2 * G])
    z, r = zr[:G], zr[G:]
    h = tanh_ref(zrh[2 * G :] + rec[2 * G :] * r)
    return (z * state + (f32(1) - z) * h).astype(f32)


def rnn_ref(arr, features, silence, skip):
    mem1 = np.zeros(2 * F, f32)
    mem2 = np.zeros(2 * C, f32)
    s = [np.zeros(G, f32) for _ in range(3)]
    gains = np.zeros((len(features), B), f32)
    vad = np.zeros(len(features), f32)
    for t, x in enumerate(features):
        if silence[t]:
            continue
        tmp = np.concatenate([mem1, x])
        mem1 = tmp[F:]
        c1 = tanh_ref(linear_ref(arr, "conv1", 3 * F, C, tmp))
        tmp = np.concatenate([mem2, c1])
        mem2 = tmp[C:]
        c2 = tanh_ref(linear_ref(arr, "conv2", 3 * C, G, tmp))
        s[0] = gru_ref(arr, 1, s[0], c2)
        s[1] = gru_ref(arr, 2, s[1], s[0])
        s[2] = gru_ref(arr, 3, s[2], s[1])
        head = np.concatenate([c2, *s]) if skip else s[2]
        gains[t] = sigmoid_ref(linear_ref(arr, "dense_out", head.size, B, head))
        vad[t] = sigmoid_ref(linear_ref(arr, "vad_dense", head.size, 1, head))[0]
    return gains, vad


# --- random models -------------------------------------------------------------------------


def _sparse_idx(rng, n_in, n_out, density):
    idx = []
    for _ in range(n_out // 8):
        keep = [p for p in range(0, n_in, 4) if rng.random() < density]
        idx += [len(keep), *keep]
    return np.array(idx, np.int32)


def random_arrays(seed=0, skip=True, density=0.7, scale=0.4):
    """Named arrays of a small 0.2 network (spec section 8 names), with float twins."""
    rng = np.random.default_rng(seed)

    def floats(n, s=scale):
        return (rng.standard_normal(n) * s).astype(f32)

    def int8(n):
        return rng.integers(-127, 128, n).astype(np.int8)

    arr = {"conv1_weights_float": floats(3 * F * C), "conv1_bias": floats(C)}
    arr.update({"conv2_weights_int8": int8(3 * C * G), "conv2_weights_float": floats(3 * C * G),
                "conv2_subias": floats(G), "conv2_scale": floats(G, 1e-3) ** 2,
                "conv2_bias": floats(G)})
    for i in (1, 2, 3):
        for part in ("input", "recurrent"):
            name = f"gru{i}_{part}"
            idx = _sparse_idx(rng, G, 3 * G, density)
            nblocks = int(len(idx) - 3 * G // 8)
            arr[f"{name}_weights_int8"] = int8(32 * nblocks)
            arr[f"{name}_weights_float"] = floats(32 * nblocks)
            arr[f"{name}_weights_idx"] = idx
            arr[f"{name}_subias"] = floats(3 * G)
            arr[f"{name}_scale"] = floats(3 * G, 3e-3) ** 2
            arr[f"{name}_bias"] = floats(3 * G)
            if part == "recurrent":
                arr[f"{name}_weights_diag"] = floats(3 * G)
    head = 4 * G if skip else G
    arr.update({"dense_out_weights_float": floats(head * B), "dense_out_bias": floats(B),
                "vad_dense_weights_float": floats(head), "vad_dense_bias": floats(1)})
    return arr


def int8_only(arr):
    return {k: v for k, v in arr.items()
            if not (k.endswith("_weights_float") and k.startswith(("conv2", "gru")))}


def random_features(seed, n):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, F)) * 2).astype(f32)
    silence = rng.random(n) < 0.2
    x[silence] = 0
    return x, silence


@pytest.mark.parametrize("skip", [True, False], ids=["skip-heads", "tag-v0.2-heads"])
@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
def test_matches_c_transcription(skip, quantized):
    arr = random_arrays(seed=3, skip=skip)
    if quantized:
        arr = int8_only(arr)
    x, silence = random_features(4, 23)
    net = Network02(arr)
    assert net.layers.skip_heads is skip
    assert net.layers.quantized is quantized
    gains, vad = net.process(x, silence)
    ref_gains, ref_vad = rnn_ref(arr, x, silence, skip)
    assert np.array_equal(gains, ref_gains)
    assert np.array_equal(vad, ref_vad)
    # not trivially saturated: the gains spread over (0, 1)
    active = gains[~silence]
    assert active.std() > 0.05 and ((active > 1e-3) & (active < 1 - 1e-3)).mean() > 0.9


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
def test_unpruned_blocks_match_c_transcription(quantized):
    """Every 8x4 block present (as in the pyrnnoise weights): the layout takes another route."""
    arr = random_arrays(seed=16, density=1.0)
    assert arr["gru1_input_weights_idx"][0] == G // 4
    if quantized:
        arr = int8_only(arr)
    x, silence = random_features(17, 12)
    gains, vad = Network02(arr).process(x, silence)
    ref_gains, ref_vad = rnn_ref(arr, x, silence, True)
    assert np.array_equal(gains, ref_gains) and np.array_equal(vad, ref_vad)


def test_block_sizes_and_streaming_agree():
    net = Network02(random_arrays(seed=5))
    x, silence = random_features(6, 41)
    whole = net.process(x, silence)
    state = net.new_state()
    frames = [net.process(x[t : t + 1], silence[t : t + 1], state) for t in range(len(x))]
    state2 = net.new_state()
    cuts = ((0, 3), (3, 4), (4, 30), (30, 41))
    parts = [net.process(x[a:b], silence[a:b], state2) for a, b in cuts]
    for got in (frames, parts):
        assert np.array_equal(np.concatenate([g for g, _ in got]), whole[0])
        assert np.array_equal(np.concatenate([v for _, v in got]), whole[1])
    for field in ("conv1_mem", "conv2_mem", "gru"):
        assert np.array_equal(getattr(state, field), getattr(state2, field))


def test_silent_frames_leave_state_untouched():
    net = Network02(random_arrays(seed=7))
    x, _ = random_features(8, 6)
    state = net.new_state()
    net.process(x[:3], None, state)
    before = state.copy()
    gains, vad = net.process(x[3:], np.ones(3, bool), state)
    assert not gains.any() and not vad.any()
    for field in ("conv1_mem", "conv2_mem", "gru"):
        assert np.array_equal(getattr(state, field), getattr(before, field))


def test_state_carries_between_calls():
    net = Network02(random_arrays(seed=9))
    x, _ = random_features(10, 8)
    first, _ = net.process(x[4:], None)
    state = net.new_state()
    net.process(x[:4], None, state)
    carried, _ = net.process(x[4:], None, state)
    assert not np.array_equal(first, carried)
    assert state.conv1_mem.shape == (2, F) and state.gru.shape == (3, G)


def test_records_mapping_and_model_give_the_same_layers():
    arr = random_arrays(seed=11)
    recs = [WeightRecord(k, WeightType.INT8 if v.dtype == np.int8 else
                         WeightType.INT if v.dtype == np.int32 else WeightType.FLOAT, v)
            for k, v in arr.items()]
    model = RNNoise02Model.from_records(recs)
    a, b, c = layers_from_arrays(arr), layers_from_arrays(recs), Network02(model).layers
    assert c.model is model
    for other in (b, c):
        assert np.array_equal(a.weights["gru2_recurrent"], other.weights["gru2_recurrent"])
    assert (a.nb_features, a.conv1_size, a.gru_size, a.nb_bands) == (F, C, G, B)


def test_bad_inputs_are_value_errors():
    net = Network02(random_arrays(seed=12))
    with pytest.raises(ValueError, match=r"\(n, 65\)"):
        net.process(np.zeros((3, 42), f32))
    with pytest.raises(ValueError, match="silence"):
        net.process(np.zeros((3, F), f32), np.zeros(2, bool))
    with pytest.raises(ValueError, match="state.gru"):
        net.process(np.zeros((3, F), f32), None, NetworkState02.zeros(F, C, G + 8))


def _mutated(**changes):
    arr = random_arrays(seed=13)
    for name, value in changes.items():
        if value is None:
            del arr[name]
        else:
            arr[name] = value
    return arr


@pytest.mark.parametrize(
    "changes, array, problem",
    [
        ({"conv1_bias": None}, "conv1_bias", "missing"),
        ({"gru2_recurrent_weights_diag": None}, "gru2_recurrent_weights_diag", "missing"),
        ({"gru1_input_bias": np.zeros(5, f32)}, "gru1_input_bias", "5 values, expected 48"),
        ({"conv2_weights_float": np.zeros(7, f32)}, "conv2_weights_float", "7 values"),
        ({"dense_out_weights_float": np.zeros(2 * G * B, f32)}, "dense_out_weights_float",
         "neither 64 x 32"),
        ({"gru3_input_weights_idx": np.array([1, 16] + [0] * 5, np.int32)},
         "gru3_input_weights_idx", "offset 16 is outside"),
        # a valid index (with weights of its size) that the kernels refuse
        ({"gru3_input_weights_idx": np.array([2, 4, 0] + [0] * 5, np.int32),
          "gru3_input_weights_int8": np.zeros(64, np.int8),
          "gru3_input_weights_float": np.zeros(64, f32)},
         "gru3_input_weights_idx", "not ascending"),
        ({"gru3_input_weights_idx": np.array([2, 4, 4] + [0] * 5, np.int32),
          "gru3_input_weights_int8": np.zeros(64, np.int8),
          "gru3_input_weights_float": np.zeros(64, f32)},
         "gru3_input_weights_idx", "group 0: block offsets not ascending"),
        ({"gru3_input_weights_idx": np.array([0] * 6 + [9], np.int32)},
         "gru3_input_weights_idx", "left after the 6 groups"),
        ({"gru3_input_weights_idx": np.array([0] * 5, np.int32)},
         "gru3_input_weights_idx", "ends after 5 of 6 groups"),
        # C's linear_init needs an int8 layer's int8 weights, its float twin is optional
        ({"conv2_weights_int8": None, "conv2_weights_float": None}, "conv2_weights_int8",
         "missing"),
        ({"conv2_weights_float": None, "conv2_scale": None}, "conv2_scale", "missing"),
        ({"vad_dense_bias": np.zeros(1, np.float64)}, "vad_dense_bias", "float64"),
    ],
)
def test_model_errors_name_the_array(changes, array, problem):
    with pytest.raises(ModelFormatError, match=problem) as err:
        layers_from_arrays(_mutated(**changes), "m.bin")
    msg = str(err.value)
    assert msg.startswith("m.bin: ") and f"'{array}'" in msg and "\n" not in msg


def test_int8_path_runs_integer_weights_only_where_floats_are_absent():
    arr = random_arrays(seed=14)
    del arr["gru2_recurrent_weights_float"]
    lay = layers_from_arrays(arr)
    runs_int8 = {name: not layer.runs_float for name, layer in lay.model.layers.items()}
    assert runs_int8["gru2_recurrent"] and lay.scales["gru2_recurrent"].size == 3 * G
    assert not runs_int8["gru1_recurrent"] and not runs_int8["conv2"]
    assert lay.scales["conv2"].size == 0
    x, silence = random_features(15, 9)
    gains, vad = Network02(lay).process(x, silence)
    ref = rnn_ref(arr, x, silence, True)
    assert np.array_equal(gains, ref[0]) and np.array_equal(vad, ref[1])


@pytest.mark.parametrize("variant", ["skip", "tag"])
@pytest.mark.parametrize("int8_only_model", [False, True], ids=["float", "int8"])
def test_network_of_an_exported_model_matches_c_transcription(variant, int8_only_model):
    """A model from float weights (pruned blocks) runs as its arrays say, either head variant."""
    model = random_model(seed=18, conv1_size=C, gru_size=G, variant=variant, density=0.6)
    if int8_only_model:
        model = model.without_float()
    net = Network02(model)
    assert net.model is model and net.layers.skip_heads is (variant == "skip")
    assert net.layers.quantized is int8_only_model
    x, silence = random_features(19, 14)
    gains, vad = net.process(x, silence)
    arr = {rec.name: rec.data for rec in model.records}
    ref_gains, ref_vad = rnn_ref(arr, x, silence, variant == "skip")
    assert np.array_equal(gains, ref_gains) and np.array_equal(vad, ref_vad)


def test_integer_layer_too_wide_for_exact_float32_sums_is_refused():
    # conv2 reads 3 x 348 = 1044 inputs: 1044 * 127 * 127 > 2**24
    wide = random_model(seed=20, conv1_size=348, gru_size=8, float_twins=False)
    with pytest.raises(ModelFormatError, match=r"1044 inputs: integer sums could exceed 2\*\*24") \
            as err:
        Network02(wide.records)
    assert "'conv2_weights_int8'" in str(err.value) and "\n" not in str(err.value)
    # with its float twin, C (and the network) computes conv2 in float
    Network02(random_model(seed=20, conv1_size=348, gru_size=8))


@pytest.mark.parametrize("sizes", [[(3, 5), (7,), (2, 2)], [(384, 1152), (384, 1152), (33,)]])
def test_side_by_side_copies_into_one_buffer(sizes):
    """Small sets take plain memory, ones past a huge page the mapping: either way equal
    copies, 64-byte aligned, one after another in the order given."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    copies = side_by_side(arrays)
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(c, a)
        assert c.dtype == a.dtype and c.flags.c_contiguous and c.flags.writeable
        assert c.ctypes.data % 64 == 0 and not np.shares_memory(a, c)
    starts = [c.ctypes.data for c in copies]
    assert starts == sorted(starts)
    assert starts[-1] - starts[0] < sum(a.nbytes + 64 for a in arrays)  # one buffer
    arrays[0][...] = 0
    assert copies[0].any()


def test_layers_weights_share_one_buffer():
    layers = layers_from_arrays(random_model(2, gru_size=128))
    ws = list(layers.weights.values())
    lo = min(w.ctypes.data for w in ws)
    hi = max(w.ctypes.data + w.nbytes for w in ws)
    assert hi - lo < sum(w.nbytes + 64 for w in ws)
