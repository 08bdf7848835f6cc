"""RNNoise 0.2 model files against the pyrnnoise 0.4.5 blob (../shared/reference/v0.2):
topology read from the arrays, layouts, the int8-only blob's sha256, blob <-> rnnoise_data.c
round trips, the export from float weights, and one-line errors for malformed files (fuzzed)."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FUZZ, FUZZ_EDITS, check_parses_or_says_why, mutate
from rnnoise_kit.errors import InputError, ModelFormatError
from rnnoise_kit.model import detect_format, load_model, save_model
from rnnoise_kit.model.core import RNNoiseModel
from rnnoise_kit.model.formats import require_v01
from rnnoise_kit.model.v02 import (
    SKIP_HEADS,
    TAG_HEADS,
    RNNoise02Model,
    WeightRecord,
    WeightType,
    format_blob,
    format_c02,
    format_h02,
    model_from_float_layers,
    parse_blob,
    parse_c02,
    random_model,
    read_blob,
)

INT8_ONLY_SHA256 = "1ad07b428be34c74d9678d05b3c387b73ccf0e6203a1a5f9ce58689b30b303c8"
"""sha256 of ``extract_blob --int8-only`` on the pyrnnoise blob (reference README)."""


@pytest.fixture(scope="module")
def blob_path(reference):
    return reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"


@pytest.fixture(scope="module")
def blob(blob_path) -> bytes:
    return blob_path.read_bytes()


@pytest.fixture(scope="module")
def model(blob) -> RNNoise02Model:
    return RNNoise02Model.from_records(parse_blob(blob), "pyrnnoise.bin")


# ------------------------------------------------------------------ the pyrnnoise model


def test_topology_read_from_the_arrays(model):
    assert (model.variant, model.gru_size, model.conv1_size) == (SKIP_HEADS, 384, 128)
    assert model.precision == "float"
    assert model.description == "RNNoise 0.2 (main-branch network, skip heads)"
    sizes = {n: (lay.nb_inputs, lay.nb_outputs) for n, lay in model.layers.items()}
    assert sizes == {
        "conv1": (195, 128), "conv2": (384, 384),
        **{f"gru{k}_{part}": (384, 1152) for k in (1, 2, 3) for part in ("input", "recurrent")},
        "dense_out": (1536, 32), "vad_dense": (1536, 1),
    }
    assert [n for n, lay in model.layers.items() if lay.is_sparse] == [
        f"gru{k}_{part}" for k in (1, 2, 3) for part in ("input", "recurrent")]
    # every 8x4 block present: 96 per group of 8 outputs (spec 6.4)
    assert model.block_density == 1.0
    assert model.n_parameters == 2_888_225
    assert model.layers["gru1_recurrent"].diag.size == 1152
    assert model.layers["conv1"].weights is None and model.layers["conv1"].scale is None


def test_int8_and_float_layouts_agree(model):
    """Decoding the int8 tiles/blocks and the float layout independently must give the same
    matrix up to quantisation: |w_q * s - w| <= s / 2 per output (s = scale * 127), plus
    float32 rounding of w / s (the 1e-5 margin)."""
    for name, lay in model.layers.items():
        if lay.weights is None:
            continue
        q = lay.dense_int8().astype(np.float64)
        f = lay.dense_float().astype(np.float64)
        s = lay.scale.astype(np.float64) * 127
        assert np.all(np.abs(q * s - f) / s <= 0.5 + 1e-5), name
        assert np.count_nonzero(q) > 0.9 * q.size, name


def test_export_from_float_weights_reproduces_the_blob(model, blob):
    """Quantising pyrnnoise's float weights the way upstream's export does gives back its
    int8 weights, scales and subias bit for bit, hence the same blob."""
    assert format_blob(list(model_from_float_layers(model.float_layers()).records)) == blob


def test_int8_only_blob_matches_extract_blob(model):
    int8 = model.without_float()
    data = format_blob(list(int8.records))
    assert len(data) == 3_544_320
    assert hashlib.sha256(data).hexdigest() == INT8_ONLY_SHA256
    assert int8.precision == "int8" and len(int8.records) == 43
    assert all(not lay.runs_float for lay in int8.layers.values() if lay.weights is not None)
    assert int8.without_float().records == int8.records


def test_blob_to_c_to_blob_is_byte_identical(blob_path, blob, tmp_path):
    model = load_model(blob_path)
    written = save_model(model, tmp_path / "rnnoise_data.c")
    assert [p.name for p in written] == ["rnnoise_data.c", "rnnoise_data.h"]
    assert detect_format(written[0]) == "c02"
    header = written[1].read_text()
    for line in ("#define CONV2_OUT_SIZE 384", "#define CONV1_STATE_SIZE (65 * (2))",
                 "#define GRU3_STATE_SIZE 384", "} RNNoise;",
                 "int init_rnnoise(RNNoise *model, const WeightArray *arrays);"):
        assert line in header
    back = load_model(written[0])
    save_model(back, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == blob


def test_c_layout():
    m = random_model(3)
    c = format_c02(m)
    assert c.count("#ifndef USE_WEIGHTS_FILE") == len(m.records) + 1
    # float twins of the int8 layers (only) are debug floats
    twins = [r.name for r in m.records if r.name.endswith("_weights_float")
             and r.name.replace("_float", "_int8") in {x.name for x in m.records}]
    assert c.count("#ifndef DISABLE_DEBUG_FLOAT") == len(twins) == 7
    assert "static const opus_int8 conv2_weights_int8[" in c
    assert "static const int gru1_input_weights_idx[" in c
    assert '{"vad_dense_bias",  WEIGHTS_vad_dense_bias_TYPE, sizeof(vad_dense_bias), ' in c
    assert ('linear_init(&model->gru2_recurrent, arrays, "gru2_recurrent_bias", '
            '"gru2_recurrent_subias", "gru2_recurrent_weights_int8",'
            '"gru2_recurrent_weights_float", "gru2_recurrent_weights_idx", '
            '"gru2_recurrent_weights_diag", "gru2_recurrent_scale", 16, 48)') in c
    assert 'linear_init(&model->conv1, arrays, "conv1_bias", NULL, NULL,' in c
    assert format_h02(m, "my_data.h").startswith("\n#ifndef MY_DATA_H\n")
    # deterministic, and an exact round trip through C text
    assert format_c02(m) == c
    assert format_blob(list(parse_c02(c, "m.c").records)) == format_blob(list(m.records))


def test_c_reader_is_tolerant():
    m = random_model(4, float_twins=False)
    blob = format_blob(list(m.records))
    # hand-written style: no table, no macros, comments, f suffixes, other spacing
    parts = ["/* a model */", "#include \"nnet.h\""]
    for r in m.records:
        ctype = {WeightType.FLOAT: "float", WeightType.INT8: "opus_int8",
                 WeightType.INT: "int"}[r.type]
        vals = ([f"{v!r}f" for v in r.data.astype(np.float64).tolist()]
                if r.type == WeightType.FLOAT else [str(v) for v in r.data.tolist()])
        parts.append(f"const {ctype} {r.name}[] = {{ // {r.name}\n  {' ,'.join(vals)},\n}};")
    back = parse_c02("\n".join(parts), "hand.c")
    assert format_blob(list(back.records)) == blob


def test_tag_variant_and_int8_only():
    m = random_model(5, variant=TAG_HEADS, float_twins=False)
    assert m.variant == TAG_HEADS and m.head_inputs == 16 and m.precision == "int8"
    assert m.description == "RNNoise 0.2 (v0.2-tag network, heads read GRU3 only)"
    again = RNNoise02Model.from_records(parse_blob(format_blob(list(m.records))))
    assert again.variant == TAG_HEADS


def test_formats_and_generations(blob_path, tmp_path, reference):
    assert detect_format(blob_path) == "blob"
    raw = tmp_path / "weights"
    raw.write_bytes(format_blob(list(random_model().records)))
    assert detect_format(raw) == "blob" and load_model(raw).generation == "0.2"
    v01 = load_model(reference / "models" / "sh.rnnn")
    assert require_v01(v01, "sh.rnnn") is v01
    save_model(v01, tmp_path / "sh.c")
    assert detect_format(tmp_path / "sh.c") == "c"
    assert isinstance(load_model(tmp_path / "sh.c"), RNNoiseModel)
    with pytest.raises(ModelFormatError, match=r"o\.rnnn: an RNNoise 0\.2 model cannot be "):
        save_model(random_model(), tmp_path / "o.rnnn")
    with pytest.raises(ModelFormatError, match=r"o\.bin: an RNNoise v0\.1 model cannot"):
        save_model(v01, tmp_path / "o.bin")
    with pytest.raises(ModelFormatError, match=r"r\.bin: is an RNNoise 0\.2 .*only RNNoise v0\.1"):
        require_v01(random_model(), "r.bin")
    (tmp_path / "x.bin").write_bytes(b"\x01\x02garbage")
    with pytest.raises(ModelFormatError, match="x.bin: unknown model format"):
        load_model(tmp_path / "x.bin")
    with pytest.raises(ModelFormatError, match="x.bin: not an RNNoise 0.2 weight blob"):
        read_blob(tmp_path / "x.bin")
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "missing.bin")


# ------------------------------------------------------------------ errors


def _records(blob: bytes) -> list[WeightRecord]:
    return parse_blob(blob)


def _replace(records, name, data=None, wtype=None, drop=False):
    out = []
    for r in records:
        if r.name == name:
            if drop:
                continue
            r = WeightRecord(name, r.type if wtype is None else wtype,
                             r.data if data is None else data)
        out.append(r)
    return out


def _error(records) -> str:
    with pytest.raises(ModelFormatError) as err:
        RNNoise02Model.from_records(records, "m.bin")
    msg = str(err.value)
    assert msg.startswith("m.bin: ") and "\n" not in msg
    return msg


SMALL = format_blob(list(random_model(7).records))


def test_missing_unknown_duplicate_and_mistyped_arrays():
    recs = _records(SMALL)
    assert "'gru2_recurrent_scale': missing" in _error(
        _replace(recs, "gru2_recurrent_scale", drop=True))
    assert "'conv1_weights_float': missing" in _error(
        _replace(recs, "conv1_weights_float", drop=True))
    extra = recs + [WeightRecord("gru4_input_bias", WeightType.FLOAT, np.zeros(3, np.float32))]
    assert "'gru4_input_bias': unknown array" in _error(extra)
    assert "'conv1_bias': duplicate" in _error(recs + [recs[1]])
    bad = _replace(recs, "gru1_input_weights_idx", wtype=WeightType.FLOAT,
                   data=recs[0].data[:4].copy())
    assert "'gru1_input_weights_idx': type float, expected int" in _error(bad)
    # the float twin is optional for int8 layers, required for the float-only ones
    RNNoise02Model.from_records(_replace(recs, "conv2_weights_float", drop=True))


def test_wrong_sizes():
    recs = _records(SMALL)
    bias = next(r for r in recs if r.name == "gru3_input_bias").data
    assert "'gru3_input_bias': 47 values, expected 48" in _error(
        _replace(recs, "gru3_input_bias", data=bias[:-1]))
    w = next(r for r in recs if r.name == "conv2_weights_int8").data
    assert "'conv2_weights_int8': " in _error(_replace(recs, "conv2_weights_int8", data=w[:-8]))
    head = next(r for r in recs if r.name == "dense_out_weights_float").data
    assert "neither 64 x 32" in _error(_replace(recs, "dense_out_weights_float", data=head[:-32]))
    vad = next(r for r in recs if r.name == "vad_dense_weights_float").data
    assert "'vad_dense_weights_float': 16 values, expected 64" in _error(
        _replace(recs, "vad_dense_weights_float", data=vad[:16]))
    cb = next(r for r in recs if r.name == "conv2_bias").data
    assert "multiple of 8" in _error(_replace(recs, "conv2_bias", data=cb[:12]))


def _idx_error(idx) -> str:
    recs = _records(SMALL)
    return _error(_replace(recs, "gru1_input_weights_idx", data=np.asarray(idx, np.int32)))


def test_bad_sparse_indices():
    recs = _records(SMALL)
    idx = next(r for r in recs if r.name == "gru1_input_weights_idx").data
    # 16 inputs (4 blocks), 48 outputs (6 groups)
    assert "'gru1_input_weights_idx': group 0: input offset 2 is not a multiple of 4" in \
        _idx_error([1, 2] + [0] * 5)
    assert "group 0: input offset 16 is outside 0..12" in _idx_error([1, 16] + [0] * 5)
    assert "group 0: input offset -4 is outside" in _idx_error([1, -4] + [0] * 5)
    assert "group 1: block count 5, expected 0..4" in _idx_error([0, 5, 0, 4, 8, 12, 0])
    assert "group 2: block count -1" in _idx_error([0, 0, -1, 0, 0, 0])
    assert "ends after 5 of 6 groups" in _idx_error([0] * 5)
    assert "1 values left after the 6 groups" in _idx_error([0] * 7)
    assert "group 5: 3 blocks announced, the array ends first" in _idx_error([0] * 5 + [3, 0])
    # a valid index with other blocks needs weights of the matching size
    assert "'gru1_input_weights_int8': " in _idx_error([4, 0, 4, 8, 12] + [0] * 5)
    assert idx.size > 6


# ------------------------------------------------------------------ fuzz

_SMALL_C = format_c02(random_model(8, conv1_size=4, gru_size=8)).encode()


def _parse_blob_model(data: bytes, path: str) -> RNNoise02Model:
    return RNNoise02Model.from_records(parse_blob(data, path), path)


@FUZZ
@given(cut=st.integers(0, len(SMALL)),
       edits=FUZZ_EDITS)
def test_fuzz_blob(cut, edits):
    check_parses_or_says_why(_parse_blob_model, mutate(SMALL, cut, edits), "fuzz.bin")


@FUZZ
@given(record=st.integers(0, 49), field=st.sampled_from([4, 8, 12, 16]),
       value=st.integers(-(2**31), 2**31 - 1))
def test_fuzz_header_fields(record, field, value):
    data = bytearray(SMALL)
    pos = 0
    for _ in range(record % 50):  # walk to the record's header
        block = struct.unpack_from("<i", data, pos + 16)[0]
        pos += 64 + block
    struct.pack_into("<i", data, pos + field, value)
    check_parses_or_says_why(_parse_blob_model, bytes(data), "fuzz.bin")


@FUZZ
@given(idx=st.lists(st.integers(-8, 24), max_size=20))
def test_fuzz_sparse_index(idx):
    recs = _replace(_records(SMALL), "gru2_recurrent_weights_idx", data=np.asarray(idx, np.int32))
    check_parses_or_says_why(
        lambda _data, path: RNNoise02Model.from_records(recs, path), b"", "fuzz.bin"
    )


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    check_parses_or_says_why(_parse_blob_model, b"DNNw" + data, "fuzz.bin")
    check_parses_or_says_why(_parse_blob_model, data, "fuzz.bin")


@FUZZ
@given(cut=st.integers(0, len(_SMALL_C)),
       edits=FUZZ_EDITS)
def test_fuzz_c_reader(cut, edits):
    check_parses_or_says_why(parse_c02, mutate(_SMALL_C, cut, edits), "fuzz.c")


@settings(max_examples=25, deadline=None)
@given(frac=st.floats(0, 1))
def test_truncated_blob_always_fails(frac):
    cut = int(frac * (len(SMALL) - 1))
    with pytest.raises(ModelFormatError, match="fuzz.bin"):
        _parse_blob_model(SMALL[:cut], "fuzz.bin")
