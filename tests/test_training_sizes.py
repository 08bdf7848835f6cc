"""Larger v0.1 networks: ``train --sizes`` and the loadable family, models of any size through
checkpoint, export, ``model info``, the Denoiser and streaming (no reference data needed; the
FFmpeg checks are in test_reference_ffmpeg_sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnoise_kit.cli import main
from rnnoise_kit.denoise import Denoiser
from rnnoise_kit.errors import ModelFormatError, SettingError
from rnnoise_kit.model import load_model, random_model, save_model
from rnnoise_kit.model.core import (
    CLASSIC_SIZES,
    MAX_LAYER_SIZE,
    STANDARD_SIZES,
    TopologyError,
    compiled_problem,
    layer_sizes,
    reader_problem,
)
from rnnoise_kit.model.reference import run_network_ref
from rnnoise_kit.training.recipe import MAX_UNITS, TrainConfig

torch = pytest.importorskip("torch")

from rnnoise_kit.model.checkpoint import read_checkpoint  # noqa: E402
from rnnoise_kit.training.trainer import (  # noqa: E402
    CheckpointMismatch,
    UnloadableModelWarning,
    load_torch_model,
    net_from_model,
    run_sizes,
    train,
)
from test_training_trainer import _write_matrix  # noqa: E402

LARGEST = (62, 24, 62, 128)
OVER_READER = (24, 24, 96, 128)  # denoise_gru reads 162 inputs: no .rnnn reader, a C build yes
OVER_BUILD = (24, 24, 48, 256)  # 256 units: rnnoise-kit only


def _matrix(path, rows=1200):
    _write_matrix(path, rows)
    return path


def _cfg(sizes, epochs=1):
    return TrainConfig(epochs=epochs, window=100, batch_size=4, sizes=sizes)


# ----------------------------------------------------------------------------- the family


def test_restated_constants_agree():
    assert MAX_UNITS == MAX_LAYER_SIZE
    assert TrainConfig().sizes == CLASSIC_SIZES
    assert layer_sizes(CLASSIC_SIZES) == STANDARD_SIZES


@pytest.mark.parametrize("sizes", [CLASSIC_SIZES, LARGEST, (24, 24, 62, 128), (1, 85, 1, 128),
                                   (85, 1, 85, 128)])
def test_loadable_family(sizes):
    assert reader_problem(layer_sizes(sizes)) is None
    assert compiled_problem(layer_sizes(sizes)) is None


@pytest.mark.parametrize(("sizes", "reader", "compiled"), [
    (OVER_READER, "denoise_gru reads 162 inputs", None),
    ((63, 24, 62, 128), "noise_gru reads 129 inputs", None),
    ((24, 24, 48, 129), "denoise_gru has 129 units", "denoise_gru has 129 units"),
    (OVER_BUILD, "denoise_gru has 256 units", "denoise_gru has 256 units"),
    ((128, 128, 128, 128), "noise_gru reads 298 inputs", None),
    ((128, 128, 256, 128), "noise_gru reads 298 inputs", "noise_gru has 256 units"),
])
def test_outside_the_family_says_why(sizes, reader, compiled):
    shape = layer_sizes(sizes)
    assert reader in reader_problem(shape) and "FFmpeg arnndn" in reader_problem(shape)
    if compiled is None:
        assert compiled_problem(shape) is None
    else:
        assert compiled in compiled_problem(shape)


def test_sizes_setting_rules():
    assert TrainConfig(sizes="24,24,62,128").sizes == (24, 24, 62, 128)
    assert TrainConfig.from_dict(TrainConfig(sizes=LARGEST).recipe_settings()).sizes == LARGEST
    for bad in ("24,24,48", "0,24,48,96", f"24,24,48,{MAX_UNITS + 1}", "a,b,c,d", (24.5, 1, 1, 1)):
        with pytest.raises(SettingError, match="sizes"):
            TrainConfig(sizes=bad)


def test_model_sizes_up_to_the_kit_bound():
    m = random_model(sizes=OVER_BUILD)
    assert m.hidden_sizes == OVER_BUILD and "256 units" in m.reader_problem()
    with pytest.raises(TopologyError, match=f"1..{MAX_LAYER_SIZE}"):
        random_model(sizes=(24, 24, 48, MAX_LAYER_SIZE + 1))


# ----------------------------------------------------------------------------- any size runs


@pytest.mark.parametrize("sizes", [LARGEST, OVER_READER, OVER_BUILD])
def test_inference_denoiser_and_stream_at_any_size(sizes, tmp_path):
    model = random_model(3, sizes=sizes, scale=0.1)
    rng = np.random.default_rng(1)
    feats = (rng.standard_normal((50, 42)) * 3).astype(np.float32)
    silent = rng.random(50) < 0.2
    from rnnoise_kit.model import run_network

    out = run_network(model, feats, silent)
    gains, vad = run_network_ref(model, feats, silent)
    np.testing.assert_array_equal(out.gains, gains)
    np.testing.assert_array_equal(out.vad, vad)
    path = tmp_path / "m.rnnn"
    save_model(model, path)  # .rnnn holds any size; rnnoise-kit reads it back
    assert load_model(path).equals(model)
    x = (rng.standard_normal(48000 + 123) * 2000).astype(np.float32)
    den = Denoiser(path)
    want, _ = den.denoise(x, 48000)
    stream = den.stream(48000)
    got = np.concatenate([stream.process(x[i:i + 700]) for i in range(0, x.size, 700)]
                         + [stream.flush()])
    np.testing.assert_array_equal(got, want)


def test_c_export_only_within_a_builds_buffers(tmp_path):
    save_model(random_model(sizes=OVER_READER), tmp_path / "ok.c")
    assert load_model(tmp_path / "ok.c").hidden_sizes == OVER_READER
    with pytest.raises(ModelFormatError, match="rnn_data.c.*256 units"):
        save_model(random_model(sizes=OVER_BUILD), tmp_path / "no.c")
    assert not (tmp_path / "no.c").exists() and not (tmp_path / "no.h").exists()


def test_torch_network_at_larger_sizes_matches_inference():
    model = random_model(5, sizes=LARGEST, scale=0.1,
                         activations=("tanh", "relu", "tanh", "relu", "sigmoid", "sigmoid"))
    net = net_from_model(model, backend="torch")
    assert net.sizes == LARGEST
    x = (np.random.default_rng(2).standard_normal((80, 42))).astype(np.float32)
    with torch.no_grad():
        gains, vad = net(torch.from_numpy(x)[None])
    from rnnoise_kit.model import run_network

    ref = run_network(model, x)
    assert np.abs(gains[0].numpy() - ref.gains).max() < 1e-3
    assert np.abs(vad[0, :, 0].numpy() - ref.vad).max() < 1e-3


# ----------------------------------------------------------------------------- train


def test_train_records_sizes_and_exports_them(tmp_path):
    data = _matrix(tmp_path / "d.h5")
    res = train(data, tmp_path / "run", config=_cfg(LARGEST), device="cpu", progress=False)
    ck = read_checkpoint(res.checkpoint_path)
    assert ck.header["config"]["sizes"] == list(LARGEST)
    assert ck.header["topology"]["denoise_gru"] == {"kind": "gru", "inputs": 128, "units": 128,
                                                     "activation": "tanh"}
    model = load_model(res.model_path)
    assert model.hidden_sizes == LARGEST and model.equals(ck.model())
    assert load_model(res.run_dir / "rnn_data.c").equals(model)
    assert load_torch_model(res.run_dir / "model.pt").sizes == LARGEST
    # resuming needs the same sizes; fine-tuning takes the model's
    with pytest.raises(CheckpointMismatch, match="sizes"):
        train(data, res.run_dir, config=_cfg(CLASSIC_SIZES, 2), resume=True, device="cpu",
              progress=False)
    assert run_sizes(init=res.model_path) == LARGEST
    assert run_sizes("24,24,62,128", init=res.model_path) == (24, 24, 62, 128)
    with pytest.raises(SettingError, match="fine-tune it with sizes 62,24,62,128"):
        train(data, tmp_path / "ft", config=_cfg(CLASSIC_SIZES), init=res.model_path,
              device="cpu", progress=False)
    ft = train(data, tmp_path / "ft2", init=res.model_path, device="cpu", progress=False,
               config=_cfg(run_sizes(init=res.model_path)))
    assert load_model(ft.model_path).hidden_sizes == LARGEST


def test_train_refuses_unloadable_sizes_unless_allowed(tmp_path):
    data = _matrix(tmp_path / "d.h5")
    with pytest.raises(SettingError, match="sizes 24,24,96,128 make a model .* cannot load"):
        train(data, tmp_path / "a", config=_cfg(OVER_READER), device="cpu", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.warns(UnloadableModelWarning, match="256 units.*no rnn_data.c is written"):
        res = train(data, tmp_path / "b", config=_cfg(OVER_BUILD), device="cpu",
                    progress=False, allow_unloadable=True)
    assert not (res.run_dir / "rnn_data.c").exists()
    assert load_model(res.model_path).hidden_sizes == OVER_BUILD


def test_cli_sizes(tmp_path, capsys):
    data = _matrix(tmp_path / "d.h5")
    base = ["train", str(data), "--epochs", "1", "--batch-size", "4", "--window", "100",
            "--device", "cpu"]
    assert main([*base, "-o", str(tmp_path / "r1"), "--sizes", "24,24,96,128"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--sizes 24,24,96,128 make a model" in err and "--allow-unloadable" in err
    assert main([*base, "-o", str(tmp_path / "r2"), "--sizes", "24,24,96,128",
                 "--allow-unloadable"]) == 0
    cap = capsys.readouterr()
    assert "warning: sizes 24,24,96,128: denoise_gru reads 162 inputs" in cap.err
    assert "C source" in cap.out  # a librnnoise build still holds it
    assert main(["export", str(tmp_path / "r2"), "-o", str(tmp_path / "x.rnnn")]) == 0
    assert "runs in rnnoise-kit only" in capsys.readouterr().err
    assert main(["model", "info", "--json", str(tmp_path / "x.rnnn")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == [24, 24, 96, 128] and not info["standard_topology"]
    assert "162 inputs" in info["reader_problem"] and info["compiled_problem"] is None
    assert "Not as .rnnn" in info["compatibility"]
    assert main(["model", "info", str(tmp_path / "x.rnnn")]) == 0
    assert "sizes 24,24,96,128 (classic 24,24,48,96)" in capsys.readouterr().out
