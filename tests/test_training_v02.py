"""The RNNoise 0.2 trainer (``rnnoise_kit.training.v02``) on synthetic 98-column rows: the
width-generic readers, the torch network's weight exchange with the 0.2 exporter, the int8-aware
rounding, the block sparsifier, the loss, resume, checkpoints, export and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnoise_kit.cli import main  # noqa: E402
from rnnoise_kit.model import load_model  # noqa: E402
from rnnoise_kit.model.checkpoint import read_checkpoint  # noqa: E402
from rnnoise_kit.model.v02 import format_blob, model_from_float_layers, random_model  # noqa: E402
from rnnoise_kit.training.data import SequenceData  # noqa: E402
from rnnoise_kit.training.matrix import MatrixReader, MatrixWriter, find_nonfinite  # noqa: E402
from rnnoise_kit.training.v02.layout import GAINS, ROW, VAD_COL  # noqa: E402
from rnnoise_kit.training.v02.loss import rnnoise02_loss  # noqa: E402
from rnnoise_kit.training.v02.network import RNNoise02Net, fake_quantize  # noqa: E402
from rnnoise_kit.training.v02.sparsify import (  # noqa: E402
    DENSITIES,
    SparsifySchedule,
    sparsify_grus,
    sparsify_matrix,
)
from rnnoise_kit.training.v02.trainer import TrainConfig02, train02  # noqa: E402

WINDOW = 40
CFG = TrainConfig02(epochs=3, batch_size=2, window=WINDOW, conv1_size=8, gru_size=16,
                    val_split=0.25, sparse=True, sparse_start=1, sparse_stop=5,
                    sparse_interval=2, qat_share=0.34)
"""A tiny run that goes through every phase: dense steps, the sparsifier's ramp and its final
density, and a last int8-aware epoch (3 batches per epoch, 9 steps)."""


def _rows(n: int, seed: int = 0) -> np.ndarray:
    """Rows shaped like dump_features' (features, gains in [0, 1] with -1 = ignore, VAD {0, 1})."""
    rng = np.random.default_rng(seed)
    rows = np.empty((n, ROW), np.float32)
    rows[:, :GAINS.start] = rng.normal(0, 1, (n, GAINS.start))
    gains = rng.uniform(0, 1, (n, GAINS.stop - GAINS.start))
    gains[rng.random(gains.shape) < 0.1] = -1
    rows[:, GAINS] = gains
    rows[:, VAD_COL] = rng.random(n) < 0.6
    return rows


@pytest.fixture(scope="module")
def rows_f32(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "train.f32"
    _rows(8 * WINDOW).tofile(path)
    return path


@pytest.fixture(scope="module")
def run3(rows_f32, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    return train02(rows_f32, run, config=CFG, device="cpu", progress=False, threads=1)


# ----------------------------------------------------------------------------- readers


def test_readers_take_98_columns(tmp_path):
    rows = _rows(3 * WINDOW, seed=1)
    f32, h5 = tmp_path / "m.f32", tmp_path / "m.h5"
    rows.tofile(f32)
    with MatrixWriter(h5, rows.shape[0], columns=ROW) as w:
        w.write(rows)
    for path in (f32, h5):
        r = MatrixReader(path, ROW)
        assert r.rows == rows.shape[0] and r.columns == ROW
        np.testing.assert_array_equal(np.concatenate([b for _, b in r.blocks(50)]), rows)
        with SequenceData(path, WINDOW, 0.0, columns=ROW) as seqs:
            assert seqs.n_sequences == 3
            np.testing.assert_array_equal(seqs.read([2, 0]),
                                          rows.reshape(3, WINDOW, ROW)[[2, 0]])
    # the v0.1 width stays the default, and a 98-column file is not an 87-column one
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="not a whole number of 87-float32 rows"):
        MatrixReader(f32)
    with pytest.raises(InputError, match=r"not \(rows, 87\)"):
        MatrixReader(h5)
    bad = rows.copy()
    bad[5, 70] = np.nan
    bad.tofile(tmp_path / "bad.f32")
    assert find_nonfinite(tmp_path / "bad.f32", ROW) == (5, 70)


# ----------------------------------------------------------------------------- network


@pytest.mark.parametrize("variant", ["skip", "tag"])
def test_weights_round_trip_through_the_exporter(variant):
    """torch -> float layers -> 0.2 model (int8 export with float twins) -> torch: the same
    weights; and a model's float layers load and export back to the same arrays."""
    torch.manual_seed(1)
    net = RNNoise02Net(8, 16, variant)
    layers = net.float_layers()
    model = model_from_float_layers(layers)
    assert model.variant == variant and model.head_inputs == (64 if variant == "skip" else 16)
    back = RNNoise02Net.from_model(model).float_layers()
    for name, (w, b) in layers.items():
        np.testing.assert_array_equal(back[name][0], w, err_msg=name)
        np.testing.assert_array_equal(back[name][1], b, err_msg=name)
    ref = random_model(3, 8, 16, variant, density=0.5)
    again = model_from_float_layers(RNNoise02Net.from_model(ref).float_layers())
    # equal arrays (random_model's pruned diagonals hold -0.0, which folding turns into +0.0)
    assert [r.name for r in again.records] == [r.name for r in ref.records]
    for a, b in zip(again.records, ref.records, strict=True):
        assert a.type == b.type and np.array_equal(a.data, b.data), a.name
    twice = model_from_float_layers(RNNoise02Net.from_model(again).float_layers())
    assert format_blob(list(twice.records)) == format_blob(list(again.records))


def test_torch_gates_are_the_c_gates():
    """One GRU step by hand in 0.2's convention (gates z, r, h of the exported matrices, reset
    after the recurrent product) equals torch's GRU with the loaded weights."""
    torch.manual_seed(2)
    net = RNNoise02Net(8, 16)
    layers = net.float_layers()
    g = 16
    x = torch.randn(g)
    s = torch.randn(g) * 0.5
    wi, bi = (torch.from_numpy(a) for a in layers["gru1_input"])
    wr, br = (torch.from_numpy(a) for a in layers["gru1_recurrent"])
    xi, xr = x @ wi + bi, s @ wr + br
    z = torch.sigmoid(xi[:g] + xr[:g])
    r = torch.sigmoid(xi[g:2 * g] + xr[g:2 * g])
    h = torch.tanh(xi[2 * g:] + r * xr[2 * g:])
    want = z * s + (1 - z) * h
    with torch.no_grad():
        _, got = net.gru1(x[None, None], s[None, None])
    torch.testing.assert_close(got[0, 0], want, rtol=0, atol=1e-6)


def test_fake_quantize_is_the_int8_export():
    """The int8-aware forward uses exactly the weights the int8 path computes with
    (``w_q * scale * 127``; recurrent diagonals float): checked through the exporter. Tolerance:
    one float32 rounding of the product (the exporter stores scale = s / 127)."""
    torch.manual_seed(3)
    net = RNNoise02Net(8, 16)
    model = model_from_float_layers(net.float_layers())
    deq = RNNoise02Net.from_model(model, dequantize=True)
    with torch.no_grad():
        for name in ("gru1", "gru2", "gru3"):
            ours, theirs = getattr(net, name), getattr(deq, name)
            torch.testing.assert_close(fake_quantize(ours.weight_ih_l0), theirs.weight_ih_l0,
                                       rtol=1e-6, atol=0)
            torch.testing.assert_close(fake_quantize(ours.weight_hh_l0, keep_diagonal=True),
                                       theirs.weight_hh_l0, rtol=1e-6, atol=0)
        torch.testing.assert_close(net.quantized_conv2(), deq.conv2.weight, rtol=1e-6, atol=0)
    # straight-through: the gradient passes unchanged
    w = net.gru1.weight_ih_l0.detach().clone().requires_grad_()
    fake_quantize(w).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


# ----------------------------------------------------------------------------- sparsifier


def test_sparsify_matrix_keeps_the_strongest_blocks_and_the_diagonal():
    torch.manual_seed(4)
    w = torch.randn(16, 16)
    w[0:8, 4:8] *= 100  # the strongest block
    diag = torch.diagonal(w).clone()
    sparsify_matrix(w, 0.25, keep_diagonal=True)
    blocks = (w.clone().fill_diagonal_(0).reshape(2, 8, 4, 4) != 0).any(dim=(1, 3))
    assert int(blocks.sum()) == 2 and bool(blocks[0, 1])
    torch.testing.assert_close(torch.diagonal(w), diag, rtol=0, atol=0)


def test_schedule():
    s = SparsifySchedule(start=10, stop=20, interval=5, exponent=3)
    assert [s.density_factor(k) for k in (9, 10, 12, 15, 20, 23)] == [None, 1.0, None, 0.125,
                                                                       0.0, 0.0]
    torch.manual_seed(5)
    net = RNNoise02Net(8, 16)
    assert not sparsify_grus(net.grus(), 3, s)
    assert sparsify_grus(net.grus(), 20, s)
    model = model_from_float_layers(net.float_layers())
    for name in ("gru1_input", "gru2_recurrent"):
        lay = model.layers[name]
        per_gate = [sum(b.size for b in lay.blocks()[g * 2:(g + 1) * 2]) / 8 for g in range(3)]
        # exported gates are z, r, h: densities .2, .3, .5 of 8 blocks each
        assert per_gate == [round(8 * DENSITIES[k]) / 8 for k in ("z", "r", "n")], name


# ----------------------------------------------------------------------------- loss


def test_loss_is_upstreams_formula():
    rng = np.random.default_rng(6)
    p = rng.uniform(0.01, 0.99, (2, 5, 32))
    g = rng.uniform(0, 1, (2, 5, 32))
    g[0, 1, 3] = -1
    q = rng.uniform(0.01, 0.99, (2, 5, 1))
    v = (rng.random((2, 5, 1)) < 0.5).astype(np.float64)
    t = np.maximum(g, 0) * np.tanh(8 * np.maximum(g, 0)) ** 2
    m = np.minimum(g + 1, 1)
    gain = np.mean((1 + 5 * v) * m * (p ** 0.25 - t ** 0.25) ** 2)
    vad = np.mean(np.abs(2 * v - 1) * (-v * np.log(0.01 + q) - (1 - v) * np.log(1.01 - q)))
    parts = rnnoise02_loss(*(torch.from_numpy(a) for a in (p, g, q, v)))
    assert float(parts.gain) == pytest.approx(gain, rel=1e-12)
    assert float(parts.vad) == pytest.approx(vad, rel=1e-12)
    assert float(parts.total) == pytest.approx(gain + 0.001 * vad, rel=1e-12)


# ----------------------------------------------------------------------------- training


class _Killed(Exception):
    pass


def test_run_folder_and_checkpoint(run3):
    assert run3.epochs == 3 and np.isfinite(run3.loss) and np.isfinite(run3.val_loss)
    ck = read_checkpoint(run3.run_dir)
    h = ck.header
    assert ck.arch == "0.2" and ck.epoch == 3
    assert h["topology"] == {"conv1_size": 8, "gru_size": 16, "variant": "skip",
                             "input_size": 65, "gains": 32}
    assert h["config"]["sparse"] and h["config"]["gamma"] == 0.25
    assert h["data"]["columns"] == 98 and len(h["data"]["sha256"]) == 64
    assert h["data"]["train_sequences"] == 6 and h["data"]["val_sequences"] == 2
    assert set(h["versions"]) >= {"rnnoise_kit", "torch", "numpy"}
    assert h["step"] == 9 and len(h["metrics"]) == 3
    model = load_model(run3.model_path)
    # 9 steps: the sparsifier ran at its final density (step >= stop) on the last steps
    assert model.gru_size == 16 and model.block_density == pytest.approx(1 / 3)
    # the run folder (its checkpoint) loads as the same model
    assert format_blob(list(load_model(run3.run_dir).records)) == run3.model_path.read_bytes()
    c = load_model(run3.run_dir / "rnnoise_data.c")
    assert format_blob(list(c.records)) == run3.model_path.read_bytes()


def test_interrupted_and_resumed_equals_uninterrupted(run3, rows_f32, tmp_path):
    run = tmp_path / "run"

    def kill(epoch, metrics):
        if epoch == 2:
            raise _Killed

    with pytest.raises(_Killed):
        train02(rows_f32, run, config=CFG, device="cpu", progress=False, threads=1,
                callback=kill)
    assert not (run / "model.bin").exists()
    res = train02(rows_f32, run, config=CFG, resume=True, device="cpu", progress=False,
                  threads=1)
    assert [h["loss"] for h in res.history] == [h["loss"] for h in run3.history]
    assert [h["val_loss"] for h in res.history] == [h["val_loss"] for h in run3.history]
    assert (run / "model.bin").read_bytes() == run3.model_path.read_bytes()
    assert (run / "checkpoint.npz").read_bytes() != b""
    a, b = read_checkpoint(run).weights, read_checkpoint(run3.run_dir).weights
    for name in a:
        for k in a[name]:
            np.testing.assert_array_equal(a[name][k], b[name][k], err_msg=f"{name}/{k}")


def test_resume_refuses_another_recipe(run3, rows_f32, tmp_path):
    import shutil

    from rnnoise_kit.model.checkpoint import CheckpointMismatch

    run = tmp_path / "copy"
    shutil.copytree(run3.run_dir, run)
    other = TrainConfig02.from_dict(CFG.recipe() | {"epochs": 3, "gamma": 0.5})
    with pytest.raises(CheckpointMismatch, match="gamma 0.25 -> 0.5"):
        train02(rows_f32, run, config=other, resume=True, device="cpu", progress=False)


def test_damaged_state_and_a_file_as_run_folder_are_one_line_errors(run3, rows_f32, tmp_path):
    """As the v0.1 trainer: a damaged train_state.pt is DamagedTrainingState (the pipeline
    restarts the stage on it), a run folder that is a file is an OutputError."""
    import shutil

    from rnnoise_kit.errors import OutputError
    from rnnoise_kit.model.checkpoint import DamagedTrainingState

    run = tmp_path / "copy"
    shutil.copytree(run3.run_dir, run)
    (run / "train_state.pt").write_bytes(b"not a torch file")
    with pytest.raises(DamagedTrainingState) as info:
        train02(rows_f32, run, config=CFG, resume=True, device="cpu", progress=False)
    assert "\n" not in str(info.value)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        train02(rows_f32, tmp_path / "afile", config=CFG, device="cpu", progress=False)


def test_fine_tune_from_a_model(rows_f32, tmp_path):
    """--init: the network starts from the model's float weights (twins), or from its
    dequantised int8 weights when it has none; the header says which."""
    ref = random_model(7, 8, 16)
    ref = model_from_float_layers(ref.float_layers())  # no -0.0 diagonals (see above)
    for precision, model in (("float", ref), ("dequantized int8", ref.without_float())):
        blob = tmp_path / f"{precision[:5]}.bin"
        blob.write_bytes(format_blob(list(model.records)))
        cfg = TrainConfig02.from_dict(CFG.recipe() | {"epochs": 0, "sparse": False})
        res = train02(rows_f32, tmp_path / f"run-{precision[:5]}", config=cfg, init=blob,
                      device="cpu", progress=False, threads=1)
        ck = read_checkpoint(res.run_dir)
        assert ck.header["init"]["weights"] == precision
        want = ref.float_layers() if precision == "float" else ref.dequantized_layers()
        for name, (w, b) in want.items():
            np.testing.assert_array_equal(ck.weights[name]["weights"], w, err_msg=name)
            np.testing.assert_array_equal(ck.weights[name]["bias"], b, err_msg=name)
    # the float model exports back to itself (0 epochs)
    assert (tmp_path / "run-float" / "model.bin").read_bytes() == format_blob(list(ref.records))


# ----------------------------------------------------------------------------- CLI


def test_cli_train_export_round_trip(rows_f32, tmp_path, capsys):
    run = tmp_path / "cli"
    args = ["train", "--arch", "0.2", str(rows_f32), "-o", str(run), "--epochs", "1",
            "--batch-size", "4", "--window", str(WINDOW), "--conv1-size", "8", "--gru-size",
            "16", "--threads", "1", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "model.bin" in out
    assert main(["export", str(run), "-o", str(tmp_path / "m.bin")]) == 0
    assert main(["export", str(run), "-o", str(tmp_path / "m.c")]) == 0
    blob = (tmp_path / "m.bin").read_bytes()
    assert blob == (run / "model.bin").read_bytes()
    assert (tmp_path / "m.h").is_file()
    # blob -> .c -> blob: byte-identical
    assert main(["model", "convert", str(tmp_path / "m.c"), str(tmp_path / "again.bin")]) == 0
    assert (tmp_path / "again.bin").read_bytes() == blob
    # a 0.2 run is not written as a v0.1 model, and v0.1 options are refused for 0.2
    assert main(["export", str(run), "-o", str(tmp_path / "m.rnnn")]) == 2
    assert main(args[:4] + ["-o", str(tmp_path / "x"), "--bce", "textbook"]) == 2
    err = capsys.readouterr().err
    assert "m.rnnn" in err and "--bce is for --arch 0.1" in err
    assert not (tmp_path / "x").exists()
