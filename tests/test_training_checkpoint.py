"""Training checkpoints (``rnnoise_kit.model.checkpoint``): written and read without torch,
loadable wherever a model file is (load_model, Denoiser, model info/convert, export)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError, ModelFormatError
from rnnoise_kit.model import LAYER_NAMES, detect_format, load_model
from rnnoise_kit.model.checkpoint import (
    CHECKPOINT_FORMAT,
    is_checkpoint,
    load_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from rnnoise_kit.model.core import GRU_LAYERS
from rnnoise_kit.model.core import STANDARD_SIZES as SIZES

ACTS = {"input_dense": "tanh", "vad_gru": "tanh", "noise_gru": "relu", "denoise_gru": "tanh",
        "denoise_output": "sigmoid", "vad_output": "sigmoid"}


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, (m, n) in SIZES.items():
        k = 3 if name in GRU_LAYERS else 1
        d = {"kernel": rng.uniform(-0.499, 0.499, (m, k * n)).astype(np.float32)}
        if k == 3:
            d["recurrent_kernel"] = rng.uniform(-0.499, 0.499, (n, k * n)).astype(np.float32)
        d["bias"] = rng.uniform(-0.499, 0.499, k * n).astype(np.float32)
        out[name] = d
    return out


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    write_checkpoint(run / "checkpoint.npz", _weights(), {"activations": ACTS, "epoch": 7,
                                                          "config": {"lr": 1e-3}})
    return run


def test_round_trip(run_dir):
    ck = read_checkpoint(run_dir)
    assert ck.epoch == 7 and ck.header["format"] == CHECKPOINT_FORMAT
    assert ck.activations == [ACTS[n] for n in LAYER_NAMES]
    w = _weights()
    for name in LAYER_NAMES:
        for k, a in w[name].items():
            np.testing.assert_array_equal(ck.weights[name][k], a)
    side = json.loads((run_dir / "checkpoint.json").read_text())
    assert side == ck.header
    m = ck.model()
    assert m.is_standard and m.vad_gru.activation.label.lower() == "tanh"
    # quantised like dump_rnn.py
    q = np.minimum(127, np.floor(w["vad_output"]["bias"] * 256 + 0.5))
    np.testing.assert_array_equal(m.vad_output.bias, q.astype(np.int8))


def test_accepts_keras_style_lists(tmp_path):
    w = {n: list(d.values()) for n, d in _weights(1).items()}
    p = write_checkpoint(tmp_path / "x.npz", w, {"activations": ACTS}, sidecar=False)
    assert not (tmp_path / "x.json").exists()
    assert load_checkpoint(p).equals(load_checkpoint(write_checkpoint(
        tmp_path / "y.npz", _weights(1), {"activations": ACTS})))


def test_loadable_wherever_a_model_is(run_dir, tmp_path, capsys):
    ref = read_checkpoint(run_dir).model()
    assert detect_format(run_dir) == "checkpoint"
    assert detect_format(run_dir / "checkpoint.npz") == "checkpoint"
    assert is_checkpoint(run_dir) and is_checkpoint(run_dir / "checkpoint.npz")
    assert not is_checkpoint(tmp_path)
    assert load_model(run_dir).equals(ref)
    assert load_model(run_dir / "checkpoint.npz").equals(ref)
    assert main(["model", "convert", str(run_dir / "checkpoint.npz"),
                 str(tmp_path / "a.rnnn")]) == 0
    assert main(["export", str(run_dir), "-o", str(tmp_path / "b.rnnn")]) == 0
    assert (tmp_path / "a.rnnn").read_bytes() == (tmp_path / "b.rnnn").read_bytes()
    assert load_model(tmp_path / "b.rnnn").equals(ref)
    assert main(["model", "info", str(run_dir)]) == 0
    assert "checkpoint" in capsys.readouterr().out
    from rnnoise_kit.denoise import Denoiser

    x = (np.sin(np.arange(4800) * 0.05) * 3000).astype(np.int16)
    a, _ = Denoiser(model=run_dir).denoise(x, 48000)
    b, _ = Denoiser(model=tmp_path / "b.rnnn").denoise(x, 48000)
    np.testing.assert_array_equal(a, b)


def test_reader_needs_no_torch(run_dir):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from rnnoise_kit.model import load_model\n"
        "from rnnoise_kit.cli import main\n"
        f"m = load_model({str(run_dir)!r})\n"
        f"assert main(['export', {str(run_dir)!r}, '-o', {str(run_dir / 'z.rnnn')!r}]) == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (run_dir / "z.rnnn").is_file()


def test_bad_checkpoints(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "none.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelFormatError, match="not an rnnoise-kit checkpoint"):
        load_model(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFormatError):
        load_model(tmp_path / "junk.npz")
    w = _weights()
    del w["vad_output"]["bias"]
    with pytest.raises(KeyError):
        write_checkpoint(tmp_path / "m.npz", w, {"activations": ACTS})
    w = _weights()
    w["vad_output"]["bias"][:] = -0.6  # below -0.5: does not fit int8
    write_checkpoint(tmp_path / "low.npz", w, {"activations": ACTS})
    with pytest.raises(ModelFormatError, match="vad_output"):
        load_model(tmp_path / "low.npz")
    write_checkpoint(tmp_path / "noact.npz", _weights(), {})
    with pytest.raises(ModelFormatError, match="activations"):
        load_model(tmp_path / "noact.npz")
