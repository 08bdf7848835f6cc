"""Model files: .rnnn, .c/.h and Keras readers and writers; round trips; error handling."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FUZZ, FUZZ_EDITS, check_parses_or_says_why, mutate
from rnnoise_kit.errors import InputError, ModelFormatError, OutputError
from rnnoise_kit.model import (
    format_c,
    format_rnnn,
    load_model,
    parse_c,
    parse_rnnn,
    read_keras,
    save_model,
)
from test_model_core import random_model

MODELS = ["std", "bd", "cb", "lq", "mp", "sh"]
KERAS = ["sh", "bd", "lq", "mp"]


@pytest.mark.parametrize("name", MODELS)
def test_rnnn_and_c_round_trips_are_byte_identical(reference, tmp_path, name):
    src = reference / "models" / f"{name}.rnnn"
    model = load_model(src)
    assert model.is_standard and model.n_parameters == 87503
    assert format_rnnn(model).encode() == src.read_bytes()
    written = save_model(model, tmp_path / "rnn_data.c")
    assert [p.name for p in written] == ["rnn_data.c", "rnn_data.h"]
    back = load_model(tmp_path / "rnn_data.c")
    save_model(back, tmp_path / "back.rnnn")
    assert (tmp_path / "back.rnnn").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", KERAS)
def test_keras_to_rnnn_is_byte_identical(reference, tmp_path, name):
    model = load_model(reference / "models" / "keras" / f"{name}.hdf5")
    save_model(model, tmp_path / "m.rnnn")
    assert (tmp_path / "m.rnnn").read_bytes() == (
        reference / "models" / f"{name}.rnnn"
    ).read_bytes()


def test_keras_2_3_file_reads(reference):
    m = load_model(reference / "models" / "keras" / "weights_5h_b_500k.hdf5")
    assert m.is_standard
    assert [a.label for a in m.activations.values()] == [
        "tanh",
        "tanh",
        "relu",
        "tanh",
        "sigmoid",
        "sigmoid",
    ]


def _weights_only_copy(src: Path, dst: Path, **gru_bias_shape) -> None:
    """Write a ``save_weights``-style file: layer groups at the root, no model_config."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for name in f["model_weights"]:
            f.copy(f["model_weights"][name], g, name=name)
        g.attrs["layer_names"] = f["model_weights"].attrs["layer_names"]


def test_keras_weights_only_needs_activations(reference, tmp_path):
    src = reference / "models" / "keras" / "sh.hdf5"
    _weights_only_copy(src, tmp_path / "w.h5")
    with pytest.raises(ModelFormatError, match="no model_config"):
        load_model(tmp_path / "w.h5")
    acts = ["tanh", "tanh", "relu", "tanh", "sigmoid", "sigmoid"]
    m = load_model(tmp_path / "w.h5", activations=acts)
    assert format_rnnn(m).encode() == (reference / "models" / "sh.rnnn").read_bytes()


def test_keras_reset_after_is_rejected(reference, tmp_path):
    dst = tmp_path / "ra.hdf5"
    shutil.copy(reference / "models" / "keras" / "sh.hdf5", dst)
    with h5py.File(dst, "r+") as f:
        grp = f["model_weights/vad_gru/vad_gru"]
        del grp["bias:0"]
        grp["bias:0"] = np.zeros((2, 72), np.float32)
    with pytest.raises(ModelFormatError, match="reset_after"):
        read_keras(dst)


@pytest.mark.parametrize("frac", [0.0, 0.01, 0.3, 0.6, 0.9, 0.999])
def test_keras_truncated(reference, tmp_path, frac):
    data = (reference / "models" / "keras" / "mp.hdf5").read_bytes()
    p = tmp_path / "cut.hdf5"
    p.write_bytes(data[: int(frac * len(data))])
    with pytest.raises(ModelFormatError, match=str(p)):
        load_model(p)


def test_keras_garbage(tmp_path):
    p = tmp_path / "x.hdf5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelFormatError, match=str(p)):
        load_model(p)


def test_c_output_compiles(reference, tmp_path):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    (tmp_path / "rnn.h").write_text(
        "#ifndef RNN_H\n#define RNN_H\ntypedef signed char rnn_weight;\n"
        "#define ACTIVATION_TANH 0\n#define ACTIVATION_SIGMOID 1\n#define ACTIVATION_RELU 2\n"
        "typedef struct { const rnn_weight *bias; const rnn_weight *input_weights;\n"
        "  int nb_inputs; int nb_neurons; int activation; } DenseLayer;\n"
        "typedef struct { const rnn_weight *bias; const rnn_weight *input_weights;\n"
        "  const rnn_weight *recurrent_weights; int nb_inputs; int nb_neurons;\n"
        "  int activation; } GRULayer;\n#endif\n"
    )
    save_model(load_model(reference / "models" / "sh.rnnn"), tmp_path / "rnn_data.c")
    (tmp_path / "use.c").write_text(
        '#include "rnn.h"\n#include "rnn_data.h"\n'
        "int main(void) { return rnnoise_model_orig.denoise_gru->nb_inputs == 114 &&\n"
        "  rnnoise_model_orig.vad_gru_size == 24 ? 0 : 1; }\n"
    )
    exe = tmp_path / "use"
    subprocess.run(
        [gcc, "-Wall", "-Werror", "-o", str(exe), "rnn_data.c", "use.c"],
        cwd=tmp_path,
        check=True,
    )
    assert subprocess.run([str(exe)]).returncode == 0


def test_c_reader_is_tolerant():
    m = random_model(4)
    text = format_c(m, "x.h", "fork")
    # comments, renamed layer structs (found through struct RNNModel), other whitespace
    text = text.replace("static const GRULayer vad_gru =", "/* x */ const GRULayer my_vad =")
    text = text.replace("&vad_gru", "& my_vad  // renamed")
    text = text.replace(",\n   ", ",  ")
    assert parse_c(text).equals(m)


def test_c_reader_errors():
    m = random_model(5)
    text = format_c(m)
    with pytest.raises(ModelFormatError, match="noise_gru.*not found"):
        parse_c(text.replace("static const GRULayer noise_gru", "static const GRULayer nope"))
    head = "static const rnn_weight vad_output_bias[1] = {\n   "
    with pytest.raises(ModelFormatError, match="outside -128..127"):
        parse_c(re.sub(re.escape(head) + r"-?\d+", head + "300", text))
    with pytest.raises(ModelFormatError, match="not an integer"):
        parse_c(re.sub(re.escape(head) + r"-?\d+", head + "1.5", text))
    with pytest.raises(ModelFormatError, match="RNNoise 0.2"):
        parse_c("static const float w[2] = {0.1f, 0.2f};\n")


def _rnnn_errors(text: str) -> str:
    with pytest.raises(ModelFormatError) as exc:
        parse_rnnn(text.encode(), "m.rnnn")
    return str(exc.value)


def test_rnnn_reader_errors():
    text = format_rnnn(random_model(6))
    assert "header" in _rnnn_errors("hello " + text)
    assert "version 2" in _rnnn_errors(text.replace("version 1", "version 2", 1))
    lines = text.split("\n")
    lines[1] = "42 24 5"
    assert "activation code 5" in _rnnn_errors("\n".join(lines))
    lines[1] = "42 30 0"  # more weights to read: the misalignment is caught at the next layer
    assert "vad_gru" in _rnnn_errors("\n".join(lines))
    lines[1] = "40 24 0"
    assert "nb_inputs = 40, expected 42" in _rnnn_errors("\n".join(lines))
    lines[1] = "42 24 0"
    lines[2] = "200 " + lines[2].split(" ", 1)[1]
    msg = _rnnn_errors("\n".join(lines))
    assert "input_dense" in msg and "outside -128..127" in msg and "line 3" in msg
    assert "after the last layer" in _rnnn_errors(text + "7\n")
    assert "truncated" in _rnnn_errors(text[: len(text) // 2])
    assert "empty" in _rnnn_errors("")
    lines = text.split("\n")
    lines[2] = "12x " + lines[2]
    msg = _rnnn_errors("\n".join(lines))
    assert "'12x' is not a decimal integer" in msg and "input_dense, token 9 (line 3)" in msg


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "nope.rnnn")
    (tmp_path / "m.bin").write_bytes(b"\x01\x02garbage")
    with pytest.raises(ModelFormatError, match="unknown model format"):
        load_model(tmp_path / "m.bin")
    with pytest.raises(OutputError, match=r"\.rnnn or \.c"):
        save_model(random_model(), tmp_path / "out.onnx")


# ------------------------------------------------------------------ fuzz

_SMALL = random_model(11, sizes=(3, 2, 2, 2), acts=(0, 1, 2, 0, 1, 2))
_RNNN = format_rnnn(_SMALL).encode()
_C = format_c(_SMALL).encode()


@FUZZ
@given(
    cut=st.integers(0, len(_RNNN)),
    edits=FUZZ_EDITS,
)
def test_fuzz_rnnn_reader(cut, edits):
    check_parses_or_says_why(parse_rnnn, mutate(_RNNN, cut, edits), "fuzz.rnnn")


@FUZZ
@given(
    cut=st.integers(0, len(_C)),
    edits=FUZZ_EDITS,
)
def test_fuzz_c_reader(cut, edits):
    check_parses_or_says_why(parse_c, mutate(_C, cut, edits), "fuzz.c")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frac=st.floats(0, 1))
def test_fuzz_truncated_std_rnnn_always_fails(reference, frac):
    data = (reference / "models" / "std.rnnn").read_bytes()
    # Cutting inside the very last number leaves a shorter, valid-looking number: no text
    # format can detect that. Any cut before the last token must be reported.
    last_start = data.rstrip().rfind(b" ") + 1
    cut = int(frac * (last_start - 1))
    with pytest.raises(ModelFormatError, match="std.rnnn"):
        parse_rnnn(data[:cut], "std.rnnn")
