"""The trainer (``rnnoise_kit.training.trainer``): recipe, out-of-core data, checkpoints,
resume, exports, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from rnnoise_kit.cli import main  # noqa: E402
from rnnoise_kit.fileio import sha256_file  # noqa: E402
from rnnoise_kit.model import Network, load_model  # noqa: E402
from rnnoise_kit.model.checkpoint import read_checkpoint  # noqa: E402
from rnnoise_kit.model.registry import default_model_path  # noqa: E402
from rnnoise_kit.training.data import SequenceData, epoch_order, prefetched  # noqa: E402
from rnnoise_kit.training.matrix import MatrixWriter  # noqa: E402
from rnnoise_kit.training.trainer import (  # noqa: E402
    CheckpointMismatch,
    TrainConfig,
    load_torch_model,
    train,
)

CFG = TrainConfig(recipe="seed", epochs=3, window=200, batch_size=16, seed=0)
"""rnn_train.py's recipe, which the checkpoint and resume tests pin."""


@pytest.fixture(scope="module")
def matrix(reference, tmp_path_factory):
    """A 40,000-frame training matrix from the reference speech and noise."""
    from rnnoise_kit.training.generator import generate

    out = tmp_path_factory.mktemp("matrix") / "t.h5"
    audio = reference / "audio"
    generate(audio / "speech_a.wav", audio / "noise_a.wav", 40000, out, seed=0, progress=False,
             hashes=False)
    return out


@pytest.fixture(scope="module")
def run3(matrix, tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    run = tmp_path_factory.mktemp("run3")
    return train(matrix, run, config=CFG, device="cpu", progress=False)


def _metrics(run):
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _weights(path):
    return read_checkpoint(path).weights


# ----------------------------------------------------------------------------- training run


def test_three_epochs_lower_validation_loss(run3):
    rows = _metrics(run3.run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "loss", "val_loss", "gain_loss", "vad_loss",
                            "val_gain_loss", "val_vad_loss", "seconds"}
    val = [float(r["val_loss"]) for r in rows]
    assert all(np.isfinite(val)) and val[-1] < val[0]
    assert run3.epochs == 3 and run3.val_loss == pytest.approx(val[-1])
    for name in ("model.rnnn", "rnn_data.c", "rnn_data.h", "model.pt", "checkpoint.npz",
                 "checkpoint.json", "train_state.pt"):
        assert (run3.run_dir / name).is_file(), name


def test_checkpoint_is_self_describing(run3, matrix):
    ck = read_checkpoint(run3.run_dir)
    h = ck.header
    assert ck.epoch == 3 and len(h["metrics"]) == 3
    assert h["config"]["activations"] == ["tanh", "relu", "tanh"]
    assert h["config"]["bce"] == "swapped" and h["config"]["window"] == 200
    assert (h["config"]["lr"], h["config"]["eps"], h["config"]["clip"]) == (1e-3, 1e-7, 0.499)
    assert (h["config"]["gain_weight"], h["config"]["vad_weight"], h["config"]["l2"]) == (
        10.0, 0.5, 1e-6)
    from rnnoise_kit.fileio import sha256_file

    assert h["data"]["sha256"] == sha256_file(matrix)
    assert h["data"]["sequences"] == 200 and h["data"]["val_sequences"] == 20
    assert h["topology"]["noise_gru"] == {"kind": "gru", "inputs": 90, "units": 48,
                                          "activation": "relu"}
    assert {"rnnoise_kit", "torch", "numpy"} <= set(h["versions"])
    # every weight stays within the clip
    for arrays in ck.weights.values():
        for a in arrays.values():
            assert np.abs(a).max() <= 0.499 + 1e-7
    # the exported model is the checkpoint quantised; model.pt holds the same float weights
    assert ck.model().equals(load_model(run3.model_path))
    assert load_model(run3.run_dir / "rnn_data.c").equals(ck.model())
    net = load_torch_model(run3.run_dir / "model.pt")
    got = net.get_weights()
    for name, arrays in ck.weights.items():
        for a, b in zip(arrays.values(), got[name], strict=True):
            np.testing.assert_array_equal(a.reshape(b.shape), b)


def test_model_loads_in_ffmpeg_arnndn(run3, reference, ffmpeg, tmp_path):
    src = tmp_path / "in.wav"
    audio, rate = sf.read(reference / "audio" / "mix_a.wav", dtype="int16", frames=3 * 48000)
    sf.write(src, audio, rate, subtype="PCM_16")
    dst = tmp_path / "out.wav"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src), "-af",
                    f"arnndn=m={run3.model_path}", str(dst)], check=True, timeout=60)
    out, _ = sf.read(dst, dtype="float64")
    ref, _ = sf.read(src, dtype="float64")
    assert out.size > 0.9 * ref.size and np.all(np.isfinite(out))
    n = min(out.size, ref.size)
    assert np.abs(out[:n] - ref[:n]).max() > 1e-3


def test_denoiser_same_from_checkpoint_and_export(run3, reference, tmp_path):
    from rnnoise_kit.denoise import Denoiser

    audio, rate = sf.read(reference / "audio" / "mix_a.wav", dtype="int16", frames=48000)
    assert main(["export", str(run3.run_dir), "-o", str(tmp_path / "m.rnnn")]) == 0
    a, _ = Denoiser(model=run3.checkpoint_path).denoise(audio, rate)
    b, _ = Denoiser(model=tmp_path / "m.rnnn").denoise(audio, rate)
    c, _ = Denoiser(model=run3.run_dir).denoise(audio, rate)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_prefetched_keeps_order_and_raises_where_it_failed():
    assert list(prefetched(range(5), lambda i: i * 10)) == [0, 10, 20, 30, 40]
    assert list(prefetched([])) == []

    def reader():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(reader()):
            got.append(item)
    assert got == [1, 2]


# ----------------------------------------------------------------------------- resume


class _Killed(Exception):
    pass


def _kill_after_epoch_2(epoch, metrics):
    if epoch == 2:
        raise _Killed


def _interrupt_and_resume(data, run, cfg, device="cpu"):
    """Train ``cfg`` in ``run``, killed after its second epoch, then resume it to the end."""
    with pytest.raises(_Killed):
        train(data, run, config=cfg, device=device, progress=False, callback=_kill_after_epoch_2)
    return train(data, run, config=cfg, resume=True, device=device, progress=False)


def test_interrupted_and_resumed_equals_uninterrupted(run3, matrix, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(_Killed):
        train(matrix, run, config=CFG, device="cpu", progress=False, callback=_kill_after_epoch_2)
    assert [int(r["epoch"]) for r in _metrics(run)] == [1, 2]
    assert not (run / "model.rnnn").exists()
    res = train(matrix, run, config=CFG, resume=True, device="cpu", progress=False)
    assert res.epochs == 3
    rows, ref = _metrics(run), _metrics(run3.run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for a, b in zip(rows, ref, strict=True):
        assert float(a["loss"]) == float(b["loss"])
        assert float(a["val_loss"]) == float(b["val_loss"])
    w1, w2 = _weights(run), _weights(run3.run_dir)
    for name in w1:
        for k in w1[name]:
            np.testing.assert_array_equal(w1[name][k], w2[name][k], err_msg=f"{name}/{k}")
    assert (run / "model.rnnn").read_bytes() == run3.model_path.read_bytes()
    # resuming a finished run trains nothing and keeps one row per epoch
    again = train(matrix, run, config=CFG, resume=True, device="cpu", progress=False)
    assert again.epochs == 3 and len(_metrics(run)) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_cpu_and_resumes_exactly(run3, matrix, tmp_path):
    """On a GPU: the fused Triton recurrence trains (``auto``), its first-epoch loss agrees
    with the CPU run's to 1e-4 relative (float32 sums in another order on another device),
    and an interrupted CUDA run resumes to the same bits (the kernels use no atomics)."""
    import importlib.util

    from rnnoise_kit.training.gru import resolved_backend

    if importlib.util.find_spec("triton") is not None:
        for n, act in ((24, "tanh"), (48, "relu"), (96, "tanh")):
            assert resolved_backend("auto", "cuda", torch.float32, n, act) == "triton"
    full = train(matrix, tmp_path / "full", config=CFG, device="cuda", progress=False)
    rows, cpu = _metrics(full.run_dir), _metrics(run3.run_dir)
    assert float(rows[0]["loss"]) == pytest.approx(float(cpu[0]["loss"]), rel=1e-4)
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    resumed = _interrupt_and_resume(matrix, tmp_path / "resumed", CFG, device="cuda")
    assert resumed.model_path.read_bytes() == full.model_path.read_bytes()
    assert [r["loss"] for r in _metrics(resumed.run_dir)] == [r["loss"] for r in rows]


def test_resume_refuses_other_recipe_or_data(run3, tmp_path):
    other = TrainConfig(recipe="seed", epochs=3, window=200, batch_size=16, seed=0, lr=1e-2)
    with pytest.raises(CheckpointMismatch, match="lr"):
        train(run3_data(run3), run3.run_dir, config=other, resume=True, progress=False)
    small = tmp_path / "small.f32"
    _write_matrix(small, 1000)
    with pytest.raises(CheckpointMismatch, match="different data"):
        train(small, run3.run_dir, config=CFG, resume=True, progress=False)
    from rnnoise_kit.errors import SettingError

    with pytest.raises(SettingError, match="resume is needed to continue") as err:
        train(run3_data(run3), run3.run_dir, config=CFG, progress=False)
    assert err.value.setting == "resume" and err.value.path == str(run3.run_dir)
    assert err.value.naming("--resume").startswith(f"{run3.run_dir}: --resume is needed")


def run3_data(run3):
    return read_checkpoint(run3.run_dir).header["data"]["path"]


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    cfg = TrainConfig(epochs=1, window=100, batch_size=4)
    res = train(data, tmp_path / "run", config=cfg, resume=True, device="cpu", progress=False)
    assert res.epochs == 1 and len(_metrics(res.run_dir)) == 1
    (res.run_dir / "train_state.pt").write_bytes(b"truncated")
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="cannot read the training state"):
        train(data, res.run_dir, config=cfg, resume=True, progress=False)


def test_gradient_accumulation_matches_whole_batches(tmp_path):
    data = tmp_path / "d.f32"
    _write_matrix(data, 2000)
    cfg = TrainConfig(epochs=1, window=100, batch_size=8)
    a = train(data, tmp_path / "a", config=cfg, device="cpu", progress=False)
    b = train(data, tmp_path / "b", config=cfg, device="cpu", progress=False,
              max_step_frames=300)  # chunks of 3 sequences
    assert b.loss == pytest.approx(a.loss, rel=1e-5)
    wa, wb = _weights(a.run_dir), _weights(b.run_dir)
    for name in wa:
        for k in wa[name]:
            np.testing.assert_allclose(wa[name][k], wb[name][k], atol=1e-5)


def test_init_from_model_file(reference, tmp_path):
    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    std = reference / "models" / "std.rnnn"
    cfg = TrainConfig(epochs=0, window=100, activations=("relu", "relu", "relu"))
    res = train(data, tmp_path / "run", config=cfg, init=std, device="cpu", progress=False)
    assert load_model(res.model_path).equals(load_model(std))
    init = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["init"]
    assert init == {"path": str(std.resolve()), "format": "rnnn", "sha256": sha256_file(std)}
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="activations"):
        train(data, tmp_path / "run2", config=TrainConfig(epochs=0, window=100), init=std,
              progress=False)


def test_init_by_public_name_reads_the_cache_and_records_it(reference, tmp_path,
                                                            monkeypatch, capsys):
    import shutil

    from rnnoise_kit.training.trainer import run_activations, run_sizes

    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    std = reference / "models" / "std.rnnn"
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    # not fetched yet: one line saying how, nothing trained
    assert main(["train", str(data), "-o", str(tmp_path / "none"), "--init", "std",
                 "--epochs", "0", "--window", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "rnnoise-kit model get std" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "none" / "model.rnnn").exists()

    (tmp_path / "cache").mkdir()
    shutil.copy(std, tmp_path / "cache" / "std.rnnn")  # what `model get std` leaves there
    assert run_activations(None, "std") == ("relu", "relu", "relu")
    assert run_sizes(None, "std") == (24, 24, 48, 96)
    cfg = TrainConfig(epochs=0, window=100, activations=("relu", "relu", "relu"))
    res = train(data, tmp_path / "run", config=cfg, init="std", device="cpu", progress=False)
    assert load_model(res.model_path).equals(load_model(std))
    init = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["init"]
    assert init["name"] == "std" and init["format"] == "rnnn"
    assert init["sha256"] == sha256_file(std)

    cfg = TrainConfig(epochs=0, window=100, activations=run_activations(None, "bundled"))
    bundled = train(data, tmp_path / "b", config=cfg, init="bundled", device="cpu",
                    progress=False)
    assert load_model(bundled.model_path).equals(load_model(default_model_path()))


def test_run_activations_given_else_the_init_models_else_the_recipes(reference):
    from rnnoise_kit.errors import SettingError
    from rnnoise_kit.training.trainer import run_activations

    std = reference / "models" / "std.rnnn"  # trained with relu everywhere
    assert run_activations(None, std) == ("relu", "relu", "relu")
    assert run_activations("Tanh, sigmoid,relu", std) == ("tanh", "sigmoid", "relu")
    assert run_activations(["relu", "tanh", "relu"]) == ("relu", "tanh", "relu")
    assert run_activations() == TrainConfig().activations == ("tanh", "relu", "tanh")
    with pytest.raises(SettingError, match="activations takes 3 names"):
        run_activations("relu,relu")


# ----------------------------------------------------------------------------- parity


def test_torch_matches_numpy_inference(reference):
    f = np.fromfile(reference / "c" / "frames_a_std.f32", dtype=np.float32).reshape(-1, 89)
    keep = f[:, 65] < 0.5
    x = np.ascontiguousarray(f[keep, :42])
    model_path = reference / "models" / "std.rnnn"
    ref = Network(load_model(model_path)).process(x)
    net = load_torch_model(model_path)
    with torch.no_grad():
        gains, vad = net(torch.from_numpy(x)[None])
    assert np.abs(gains[0].numpy() - ref.gains).max() < 1e-3
    assert np.abs(vad[0, :, 0].numpy() - ref.vad).max() < 1e-3


# ----------------------------------------------------------------------------- data


def _write_matrix(path, rows, seed=1):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((rows, 87)).astype(np.float32)
    m[:, 42:64] = rng.random((rows, 22))
    m[:, 86] = rng.choice([0.0, 0.5, 1.0], rows)
    with MatrixWriter(path, rows) as w:
        w.write(m)
    return m


@pytest.mark.parametrize("suffix", [".f32", ".h5"])
def test_sequence_data_reads_sequences(tmp_path, suffix):
    m = _write_matrix(tmp_path / f"m{suffix}", 1050)
    with SequenceData(tmp_path / f"m{suffix}", 100) as d:
        assert (d.n_sequences, d.n_train, d.n_val) == (10, 9, 1)
        got = d.read([7, 2, 5])
        want = m[:1000].reshape(10, 100, 87)[[7, 2, 5]]
        np.testing.assert_array_equal(got, want)
        batches = list(d.train_batches(4, seed=3, epoch=1))
        assert [b.shape[0] for b in batches] == [4, 4, 1]
        order = epoch_order(9, 3, 1)
        np.testing.assert_array_equal(np.concatenate(batches), m[:900].reshape(9, 100, 87)[order])
        np.testing.assert_array_equal(next(d.val_batches(4))[0], m[900:1000])
    assert not np.array_equal(epoch_order(9, 3, 1), epoch_order(9, 3, 2))


# ----------------------------------------------------------------------------- CLI


def _cli(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_cli_train_and_export(tmp_path, capsys):
    data = tmp_path / "d.h5"
    _write_matrix(data, 1000)
    run = tmp_path / "run"
    rc = main(["train", str(data), "-o", str(run), "--epochs", "1", "--batch-size", "4",
               "--window", "100", "--device", "cpu", "--activations", "relu,relu,relu",
               "--bce", "textbook", "--seed", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out
    h = read_checkpoint(run).header
    assert h["config"]["bce"] == "textbook" and h["config"]["seed"] == 5
    assert h["config"]["recipe"] == "modern" and h["config"]["optimizer"] == "adamw"
    assert h["activations"]["vad_gru"] == "relu"
    assert main(["export", str(run / "checkpoint.npz"), "-o", str(tmp_path / "x.c")]) == 0
    assert (tmp_path / "x.h").is_file()
    assert load_model(tmp_path / "x.c").equals(load_model(run / "model.rnnn"))


def test_cli_bad_inputs(tmp_path, capsys, monkeypatch):
    run = str(tmp_path / "run")
    rc, err = _cli(["train", str(tmp_path / "missing.h5"), "-o", run], capsys)
    assert rc == 2 and "no such file" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.f32"
    bad.write_bytes(np.zeros(86 * 3, np.float32).tobytes())
    rc, err = _cli(["train", str(bad), "-o", run], capsys)
    assert rc == 2 and "87" in err and len(err.splitlines()) == 1
    short = tmp_path / "short.f32"
    _write_matrix(short, 50)
    rc, err = _cli(["train", str(short), "-o", run], capsys)
    assert rc == 2 and "fewer than one 2000-frame window" in err
    rc, err = _cli(["train", str(short), "-o", run, "--window", "10", "--activations", "x,y"],
                   capsys)
    assert rc == 2 and "activations" in err
    rc, err = _cli(["export", str(tmp_path), "-o", str(tmp_path / "m.rnnn")], capsys)
    assert rc == 2 and "checkpoint" in err
    rc, err = _cli(["export", str(tmp_path), "-o", str(tmp_path / "m.txt2")], capsys)
    assert rc == 2 and ".rnnn or .c" in err
    monkeypatch.setitem(sys.modules, "torch", None)
    rc, err = _cli(["train", str(short), "-o", run], capsys)
    assert rc == 2 and "pip install 'rnnoise-kit[train]'" in err


# ----------------------------------------------------------------------------- bad inputs


def test_non_finite_rows_are_refused_before_training(tmp_path, capsys):
    from rnnoise_kit.errors import InputError

    data = tmp_path / "d.f32"
    m = _write_matrix(data, 600)
    m[437, 12] = np.nan
    m.tofile(data)
    run = tmp_path / "run"
    with pytest.raises(InputError, match="row 437 column 12 is not finite"):
        train(data, run, config=TrainConfig(epochs=1, window=100, batch_size=4),
              device="cpu", progress=False)
    assert not run.exists() or list(run.iterdir()) == []
    m[437, 12] = np.inf  # the CLI: one line, exit 2
    m.tofile(data)
    assert main(["train", str(data), "-o", str(run), "--epochs", "1", "--window", "100"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not finite" in err


@pytest.mark.parametrize("lr", ["inf", "nan", "0", "-1"])
def test_learning_rate_must_be_finite_and_positive(tmp_path, capsys, lr):
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="lr"):
        TrainConfig(lr=float(lr))
    data = tmp_path / "d.f32"
    _write_matrix(data, 300)
    assert main(["train", str(data), "-o", str(tmp_path / "run"), "--lr", lr]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "lr" in err
    assert not (tmp_path / "run").exists()


def test_diverging_epoch_is_never_saved(tmp_path, monkeypatch):
    """An epoch whose loss or weights turn NaN stops the run and leaves the last good one."""
    from rnnoise_kit.errors import TrainingDiverged
    from rnnoise_kit.training import trainer

    real = trainer._run_epoch

    def poisoned(net, opt, data, cfg, epoch, *rest):
        m = real(net, opt, data, cfg, epoch, *rest)
        if epoch == 1:  # the second epoch blows up
            with torch.no_grad():
                next(net.parameters()).fill_(float("nan"))
            m["loss"] = float("nan")
        return m

    monkeypatch.setattr(trainer, "_run_epoch", poisoned)
    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=3, window=100, batch_size=4)
    with pytest.raises(TrainingDiverged, match="epoch 2.*checkpoint of epoch 1 is kept"):
        train(data, run, config=cfg, device="cpu", progress=False)
    ck = read_checkpoint(run)
    assert ck.epoch == 1
    assert all(np.isfinite(a).all() for arrays in ck.weights.values() for a in arrays.values())
    assert len(_metrics(run)) == 1 and not (run / "model.rnnn").exists()
    monkeypatch.setattr(trainer, "_run_epoch", real)  # the run resumes from the good epoch
    res = train(data, run, config=cfg, resume=True, device="cpu", progress=False)
    assert res.epochs == 3 and np.isfinite(res.loss)


def test_huge_features_diverge_in_one_line(tmp_path, capsys):
    data = tmp_path / "d.f32"
    m = _write_matrix(data, 600)
    m[:, :42] = np.where(np.arange(42) % 2, 3e38, -3e38)  # finite, but sums overflow
    m.tofile(data)
    run = tmp_path / "run"
    assert main(["train", str(data), "-o", str(run), "--epochs", "2", "--window", "100",
                 "--batch-size", "4", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "diverged in epoch 1" in err and "nothing was saved" in err
    assert not (run / "checkpoint.npz").exists() and not (run / "model.rnnn").exists()


def test_damaged_training_state_is_one_line(tmp_path, capsys):
    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    run = tmp_path / "run"
    args = ["train", str(data), "-o", str(run), "--epochs", "1", "--window", "100",
            "--batch-size", "4", "--device", "cpu"]
    assert main(args) == 0
    good = (run / "train_state.pt").read_bytes()
    for damaged in (b"garbage" * 10, good[: len(good) // 2], b"PK\x03\x04" + bytes(100)):
        (run / "train_state.pt").write_bytes(damaged)
        capsys.readouterr()
        assert main([*args, "--resume", "--epochs", "2"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert "train_state.pt" in err and "cannot read the training state" in err
    # a readable file without the training state's parts
    torch.save({"header": "{}"}, run / "train_state.pt")
    assert main([*args, "--resume", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot read the training state" in err


# ----------------------------------------------------------------------------- recipes and QAT


def test_recipes_fill_the_unset_fields_and_seed_is_rnn_train():
    from rnnoise_kit.training.recipe import RECIPES

    seed = TrainConfig(recipe="seed")
    assert (seed.lr, seed.eps, seed.l2, seed.clip, seed.optimizer, seed.schedule,
            seed.warmup, seed.grad_clip, seed.qat_fraction) == (
        1e-3, 1e-7, 1e-6, 0.499, "adam", "constant", 0.0, 0.0, 0.0)
    modern = TrainConfig()
    assert modern.recipe == "modern"
    assert {k: getattr(modern, k) for k in RECIPES["modern"]} == RECIPES["modern"]
    # a field given explicitly wins over its recipe
    assert TrainConfig(recipe="seed", schedule="cosine").schedule == "cosine"
    assert TrainConfig(lr=5e-4).lr == 5e-4
    # every field a recipe leaves open is filled by each recipe
    open_fields = {k for k, v in TrainConfig.__dataclass_fields__.items() if v.default is None}
    assert all(set(r) == open_fields for r in RECIPES.values())
    # a checkpoint written before named recipes describes the seed recipe
    assert TrainConfig.from_dict({"epochs": 2, "lr": 1e-3}).recipe == "seed"
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="recipe"):
        TrainConfig(recipe="fancy")
    with pytest.raises(InputError, match="warmup"):
        TrainConfig(warmup=1.0)


def test_learning_rate_warms_up_then_decays_along_a_cosine():
    from rnnoise_kit.training.recipe import learning_rate, qat_epochs

    cfg = TrainConfig(lr=2e-3, warmup=0.1, schedule="cosine")
    lrs = [learning_rate(cfg, i, 100) for i in range(100)]
    assert lrs[0] == pytest.approx(2e-4) and lrs[9] == pytest.approx(2e-3)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10], strict=False))  # warm-up rises
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # decay never rises
    assert lrs[-1] == pytest.approx(2e-5) and lrs[54] == pytest.approx(1.01e-3, rel=0.02)
    seed = TrainConfig(recipe="seed")
    assert {learning_rate(seed, i, 100) for i in range(100)} == {1e-3}
    # the quantisation-aware share rounds up, never past the run
    assert qat_epochs(TrainConfig(epochs=15, qat_fraction=0.15)) == 3
    assert qat_epochs(TrainConfig(epochs=20, qat_fraction=0.15)) == 3
    assert qat_epochs(TrainConfig(epochs=3, qat_fraction=1.0)) == 3
    assert qat_epochs(TrainConfig(recipe="seed")) == 0


def test_fake_quantised_weights_are_the_exported_ones_with_straight_through_gradient():
    from rnnoise_kit.model.core import quantize
    from rnnoise_kit.training.network import RNNoiseNet
    from rnnoise_kit.training.qat import fake_quantised, quantised

    w = torch.tensor([0.4985, -0.4985, 1 / 512, -1 / 512, 3 / 512, 0.1234567, -0.3])
    expected = quantize(w.numpy()).astype(np.float32) / 256  # half away from zero, max 127
    np.testing.assert_array_equal(quantised(w).numpy(), expected)
    assert expected[0] == 127 / 256 and expected[1] == -128 / 256 and expected[2] == 1 / 256

    torch.manual_seed(0)
    net = RNNoiseNet(backend="torch")
    before = [p.detach().clone() for p in net.parameters()]
    x = torch.randn(2, 5, 42)
    with fake_quantised(net):
        inside = [p.detach().clone() for p in net.parameters()]
        sum(y.sum() for y in net(x)).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    for b, p, q in zip(before, net.parameters(), inside, strict=True):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)  # float weights are back
        torch.testing.assert_close(q, quantised(b), rtol=0, atol=0)
    # the gradient is that of the quantised network (straight-through)
    for p, q in zip(net.parameters(), inside, strict=True):
        with torch.no_grad():
            p.copy_(q)
        p.grad = None
    sum(y.sum() for y in net(x)).backward()
    for p, g in zip(net.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)


def test_modern_run_ends_on_the_exported_int8_model_and_resumes_exactly(tmp_path):
    """The quantisation-aware last epoch validates the int8 weights: its validation loss is
    the exported model's. The schedule is a function of the step, so a resumed run is the
    uninterrupted one to the bit."""
    from rnnoise_kit.training import trainer

    data = tmp_path / "d.f32"
    _write_matrix(data, 3000)
    cfg = TrainConfig(epochs=3, window=100, batch_size=4, qat_fraction=0.3)  # the last epoch
    full = train(data, tmp_path / "full", config=cfg, device="cpu", progress=False)
    net = load_torch_model(full.model_path)  # int8 / 256 weights
    with SequenceData(data, cfg.window, cfg.val_split) as seqs:
        exported = trainer._validate(net, seqs, cfg, torch.device("cpu"))["val_loss"]
        floats = trainer._validate(load_torch_model(full.run_dir / "model.pt"), seqs, cfg,
                                   torch.device("cpu"))["val_loss"]
    assert full.val_loss == exported
    assert floats != exported  # the float weights are not the int8 ones: the test can fail
    assert read_checkpoint(full.run_dir).header["config"]["qat_fraction"] == 0.3
    res = _interrupt_and_resume(data, tmp_path / "run", cfg)
    assert [r["loss"] for r in res.history] == [r["loss"] for r in full.history]
    assert res.model_path.read_bytes() == full.model_path.read_bytes()


def test_checkpoints_from_before_named_recipes_resume_as_seed(tmp_path):
    from rnnoise_kit.training.trainer import _check_resumable

    seed = TrainConfig(recipe="seed", epochs=2, window=100)
    old = {k: v for k, v in seed.recipe_settings().items()
           if k not in ("recipe", "optimizer", "weight_decay", "schedule", "warmup",
                        "grad_clip", "qat_fraction")}
    header = {"config": old, "data": {"sha256": "x"}}
    _check_resumable(header, seed, {"sha256": "x"}, tmp_path)
    with pytest.raises(CheckpointMismatch, match="recipe 'seed' -> 'modern'"):
        _check_resumable(header, TrainConfig(epochs=2, window=100, lr=1e-3, l2=1e-6),
                         {"sha256": "x"}, tmp_path)


@pytest.mark.parametrize("setting, value", [("undershoot", 2.0), ("anchor", 0.5)])
def test_checkpoints_from_before_a_setting_resume_without_it(tmp_path, setting, value):
    """A checkpoint written before ``undershoot`` (the symmetric loss) or ``anchor`` (the
    matrix's own targets) existed resumes as a run with that setting at 0, and only so."""
    from rnnoise_kit.training.trainer import _check_resumable

    cfg = TrainConfig(epochs=2, window=100)
    old = {k: v for k, v in cfg.recipe_settings().items() if k != setting}
    header = {"config": old, "data": {"sha256": "x"}}
    _check_resumable(header, cfg, {"sha256": "x"}, tmp_path)
    with pytest.raises(CheckpointMismatch, match=f"{setting} 0.0 -> {value}"):
        _check_resumable(header, TrainConfig(epochs=2, window=100, **{setting: value}),
                         {"sha256": "x"}, tmp_path)


# ----------------------------------------------------------------------------- anchor


def test_anchor_targets_pull_speech_frames_only():
    from rnnoise_kit.training.loss import anchor_targets

    y = torch.tensor([[[0.2, -1.0, 0.8]] * 3])
    vad = torch.tensor([[[0.0], [0.5], [1.0]]])
    g = torch.tensor([[[1.0, 1.0, 0.0]] * 3])
    out = anchor_targets(y, vad, g, 0.5)
    torch.testing.assert_close(out[0, 0], y[0, 0], rtol=0, atol=0)  # a pause: untouched
    torch.testing.assert_close(out[0, 1:], torch.tensor([[0.6, -1.0, 0.4]] * 2))
    torch.testing.assert_close(anchor_targets(y, vad, g, 0.0), y, rtol=0, atol=0)
    # share 1: the reference's gains in speech, except the ignored band
    torch.testing.assert_close(anchor_targets(y, vad, g, 1.0)[0, 2], torch.tensor([1.0, -1.0, 0.0]))


def _capture_targets(monkeypatch):
    """Record the target gains of every loss call of the trainer."""
    from rnnoise_kit.training import trainer

    seen = []
    real = trainer.rnnoise_loss

    def spy(gains, gains_target, *args):
        seen.append(gains_target.detach().clone())
        return real(gains, gains_target, *args)

    monkeypatch.setattr(trainer, "rnnoise_loss", spy)
    return seen


def test_anchor_pulls_the_speech_targets_towards_the_init_models_gains(reference, tmp_path,
                                                                       monkeypatch):
    """The first step's targets are the matrix's, pulled towards std's own gains on the same
    features (torch network, int8 / 256 weights) in the rows with speech; pauses and ignored
    bands keep the matrix's; the run records the share, and anchor 0 is the plain run."""
    from rnnoise_kit.training.layout import FEATURES, GAINS, VAD_COL
    from rnnoise_kit.training.trainer import net_from_model

    data = tmp_path / "d.f32"
    m = _write_matrix(data, 2000)
    m[::7, GAINS.start + 3] = -1.0  # ignored bands must stay ignored
    with MatrixWriter(data, len(m)) as w:
        w.write(m)
    std = reference / "models" / "std.rnnn"
    relu = ("relu", "relu", "relu")
    cfg = TrainConfig(epochs=1, window=100, batch_size=20, activations=relu, anchor=0.4,
                      val_split=0.0)
    seen = _capture_targets(monkeypatch)
    res = train(data, tmp_path / "run", config=cfg, init=std, device="cpu", progress=False)
    assert read_checkpoint(res.run_dir).header["config"]["anchor"] == 0.4

    # the first batch: which sequences it holds, recomputed as the trainer draws them
    with SequenceData(data, cfg.window, cfg.val_split) as seqs:
        first = torch.from_numpy(next(iter(seqs.train_batches(cfg.batch_size, cfg.seed, 0))))
    ref_net = net_from_model(load_model(std), backend="torch")
    with torch.no_grad():
        g, _ = ref_net(first[..., FEATURES])
    y = first[..., GAINS].numpy()
    speech = (first[..., VAD_COL] != 0).numpy()[..., None]
    want = np.where((y >= 0) & speech, y + np.float32(0.4) * (g.numpy() - y), y)
    got = seen[0].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert np.abs(got - y)[np.broadcast_to(speech, y.shape) & (y >= 0)].max() > 0.01
    np.testing.assert_array_equal(got[np.broadcast_to(~speech, y.shape)],
                                  y[np.broadcast_to(~speech, y.shape)])
    assert (got[y < 0] == -1).all()

    seen.clear()
    plain = replace(cfg, anchor=0.0)
    train(data, tmp_path / "plain", config=plain, init=std, device="cpu", progress=False)
    np.testing.assert_array_equal(seen[0].numpy(), y)


def test_anchored_run_resumes_exactly_and_needs_its_init_model(reference, tmp_path):
    import shutil

    from rnnoise_kit.errors import SettingError

    data = tmp_path / "d.f32"
    _write_matrix(data, 3000)
    init = tmp_path / "std.rnnn"
    shutil.copy(reference / "models" / "std.rnnn", init)
    cfg = TrainConfig(epochs=3, window=100, batch_size=4, activations=("relu", "relu", "relu"),
                      anchor=0.5)
    full = train(data, tmp_path / "full", config=cfg, init=init, device="cpu", progress=False)
    plain = train(data, tmp_path / "plain", config=replace(cfg, anchor=0.0), init=init,
                  device="cpu", progress=False)
    assert full.model_path.read_bytes() != plain.model_path.read_bytes()

    run = tmp_path / "run"
    with pytest.raises(_Killed):
        train(data, run, config=cfg, init=init, device="cpu", progress=False,
              callback=_kill_after_epoch_2)
    res = train(data, run, config=cfg, resume=True, device="cpu", progress=False)
    assert [r["loss"] for r in res.history] == [r["loss"] for r in full.history]
    assert res.model_path.read_bytes() == full.model_path.read_bytes()

    # the model a resumed anchored run reads again must be the one it started from
    with pytest.raises(_Killed):
        train(data, tmp_path / "run2", config=cfg, init=init, device="cpu", progress=False,
              callback=_kill_after_epoch_2)
    init.write_bytes(init.read_bytes().replace(b"\n-10 ", b"\n-11 ", 1))
    with pytest.raises(CheckpointMismatch, match="has changed"):
        train(data, tmp_path / "run2", config=cfg, resume=True, device="cpu", progress=False)
    init.unlink()
    with pytest.raises(CheckpointMismatch, match="is gone"):
        train(data, tmp_path / "run2", config=cfg, resume=True, device="cpu", progress=False)
    with pytest.raises(SettingError, match="anchor"):
        train(data, tmp_path / "run3", config=cfg, device="cpu", progress=False)


def test_cli_anchor_needs_init_and_v01(tmp_path, capsys):
    data = tmp_path / "d.f32"
    _write_matrix(data, 600)
    assert main(["train", str(data), "-o", str(tmp_path / "r"), "--anchor", "0.5",
                 "--epochs", "0", "--window", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "anchor" in err and "init" in err and len(err.splitlines()) == 1
    assert main(["train", str(data), "-o", str(tmp_path / "r"), "--anchor", "1.5", "--init",
                 "std", "--epochs", "0", "--window", "100"]) == 2
    assert "--anchor" in capsys.readouterr().err
    assert main(["train", str(data), "-o", str(tmp_path / "r"), "--arch", "0.2", "--anchor",
                 "0.5"]) == 2
    assert "0.1" in capsys.readouterr().err
