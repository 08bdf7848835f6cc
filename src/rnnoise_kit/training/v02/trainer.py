"""Train an RNNoise 0.2 model with upstream's recipe (``torch/rnnoise/train_rnnoise.py`` at the
main branch, spec rnnoise-v0.2 sections 10 and 12), resumable like the v0.1 trainer.

>>> from rnnoise_kit.training.v02.trainer import TrainConfig02, train02
>>> res = train02("train.f32", "run", config=TrainConfig02(epochs=3))  # doctest: +SKIP
>>> res.model_path                                                       # doctest: +SKIP
PosixPath('run/model.bin')

Data: 98-column rows (:mod:`rnnoise_kit.training.v02.layout`), cut into sequences of
``window`` frames, the last ``val_split`` of them held out. Each batch: AdamW, learning rate
``lr / (1 + lr_decay * step)``, GRU states carried from the previous batch (detached), then
the block sparsifier when ``sparse`` (:mod:`~rnnoise_kit.training.v02.sparsify`). The last
``qat_share`` of the epochs train quantisation-aware (the int8 export's rounding of conv2's and
the GRUs' weights and inputs in the forward pass, straight-through gradients).

The run folder holds what a v0.1 run's does (``checkpoint.npz`` / ``.json`` self-describing,
``train_state.pt`` for ``resume``, ``metrics.csv``), the checkpoint in the 0.2 form (header
``arch`` "0.2"); at the end ``model.bin`` (weight blob for librnnoise 0.2's
``rnnoise_model_from_buffer``) and ``rnnoise_data.c`` / ``.h``: upstream's export (sparse int8
GRUs and conv2 with their float twins).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rnnoise_kit.errors import InputError, OutputError, SettingError
from rnnoise_kit.fileio import write_problem
from rnnoise_kit.model.checkpoint import ARCH_V02, DamagedTrainingState
from rnnoise_kit.model.v02.model import CONV_KERNEL
from rnnoise_kit.progress import progress_bar
from rnnoise_kit.training.data import SequenceData
from rnnoise_kit.training.trainer import (
    STATE_NAME,
    TrainResult,
    damaged_state_message,
    device_batches,
    end_epoch,
    finish_run,
    format_loss,
    model_format_of,
    open_run,
    restore_state,
    run_header,
    use_all_cpus,
)
from rnnoise_kit.training.v02.layout import FEATURES, GAINS, ROW, VAD
from rnnoise_kit.training.v02.loss import rnnoise02_loss
from rnnoise_kit.training.v02.network import SIZES, RNNoise02Net
from rnnoise_kit.training.v02.recipe import TrainConfig02
from rnnoise_kit.training.v02.sparsify import SparsifySchedule, sparsify_grus

__all__ = ["TrainConfig02", "init_model", "train02"]

DELAY = 3
"""Targets of a sequence start at row 3 and stop one short (``[3:-1]``): the two valid
convolutions' alignment (spec 5)."""


def _resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when torch sees one (cuDNN's GRU), else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise SettingError("device", f"must be auto, cpu or cuda (got {device!r})")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError("device", f"{device}: no CUDA device is available to torch")
    return torch.device(device)


def init_model(path: str | os.PathLike):
    """The 0.2 model a run fine-tunes from, and which of its weights the network takes.

    Parameters
    ----------
    path : path-like or str
        A model file, or the public name ``rnnoise-0.2`` (imported from pyrnnoise).

    Returns
    -------
    (RNNoise02Model, str, pathlib.Path)
        The model; ``"float"`` (its float weights: the twins of the int8 layers, what C
        computes with) or ``"dequantized int8"`` (an int8-only model: ``w_q * scale * 127``);
        the file it was read from.

    Raises
    ------
    InputError
        Not a readable RNNoise 0.2 model.
    """
    from rnnoise_kit.model import load_model
    from rnnoise_kit.model.registry import model_path

    file = model_path(path)
    model = load_model(file)
    if getattr(model, "generation", "0.1") != "0.2":
        raise InputError(path, "is an RNNoise v0.1 model; a 0.2 run fine-tunes RNNoise 0.2 "
                               "models only")
    return model, ("float" if model.precision == "float" else "dequantized int8"), file


def run_sizes(size: str | None = None, conv1_size: int | None = None,
              gru_size: int | None = None, init: str | os.PathLike | None = None
              ) -> tuple[int, int, str]:
    """(conv1 size, GRU size, variant) of a run: explicit sizes, else the named ``size``,
    else the ``init`` model's, else upstream's default (128, 384, skip heads).

    Raises
    ------
    SettingError
        An unknown size name, or sizes that differ from the ``init`` model's.
    """
    variant = "skip"
    if size is not None and size not in SIZES:
        raise SettingError("size", f"must be one of {', '.join(SIZES)} (got {size!r})")
    base = SIZES[size or "default"]
    if init is not None:
        model = init_model(init)[0]
        have = (model.conv1_size, model.gru_size)
        want = (conv1_size or (base[0] if size else have[0]),
                gru_size or (base[1] if size else have[1]))
        if want != have:
            raise SettingError("size", f"conv1 {want[0]}, GRU {want[1]} differ from the model's "
                                       f"conv1 {have[0]}, GRU {have[1]}", path=init)
        return have[0], have[1], model.variant
    return conv1_size or base[0], gru_size or base[1], variant


def _states_for(states, b: int, net: RNNoise02Net, device, carry: bool):
    if carry and states is not None and states[0].shape[1] == b:
        return states
    return net.zero_states(b, device)


def _run_epoch(net, opt, data: SequenceData, cfg: TrainConfig02, epoch: int, device, bar,
               step_seqs: int, run: dict) -> dict:
    """One epoch; ``run`` carries the optimizer step count and the GRU states across batches."""
    net.train()
    schedule = SparsifySchedule(cfg.sparse_start, cfg.sparse_stop, cfg.sparse_interval,
                                cfg.sparse_exponent)
    tot = gsum = vsum = 0.0
    n = 0
    for t in device_batches(data.train_batches(cfg.batch_size, cfg.seed, epoch), device):
        b = t.shape[0]
        lr = cfg.lr / (1.0 + cfg.lr_decay * run["step"])
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        states = _states_for(run["states"], b, net, device, cfg.carry_states)
        total = gain = vad_l = 0.0
        new_states = []
        for a in range(0, b, step_seqs):
            part = t[a:a + step_seqs]
            w = part.shape[0] / b
            h = [s[:, a:a + step_seqs] for s in states]
            pg, pv, h = net(part[..., FEATURES], h)
            new_states.append([s.detach() for s in h])
            parts = _loss(pg, pv, part, cfg)
            (parts.total * w if w != 1 else parts.total).backward()
            total += w * float(parts.total.detach())
            gain += w * float(parts.gain.detach())
            vad_l += w * float(parts.vad.detach())
            del pg, pv, parts
        opt.step()
        if cfg.sparse:
            sparsify_grus(net.grus(), run["step"], schedule)
        run["step"] += 1
        run["states"] = [torch.cat(parts, dim=1) for parts in zip(*new_states, strict=True)]
        tot += b * total
        gsum += b * gain
        vsum += b * vad_l
        n += b
        bar.advance(1)
        bar.update(info=f"loss {tot / n:.4f}")
    return {"loss": tot / n, "gain_loss": gsum / n, "vad_loss": vsum / n}


def _loss(pred_gain, pred_vad, rows: torch.Tensor, cfg: TrainConfig02):
    """The recipe's loss of valid-convolution outputs against the rows' targets [3:-1]."""
    return rnnoise02_loss(pred_gain, rows[:, DELAY:-1, GAINS], pred_vad, rows[:, DELAY:-1, VAD],
                          cfg.gamma, cfg.gain_sharpness, cfg.vad_boost, cfg.vad_weight)


@torch.no_grad()
def _validate(net, data: SequenceData, cfg: TrainConfig02, device) -> dict:
    if data.n_val == 0:
        return {"val_loss": math.nan, "val_gain_loss": math.nan, "val_vad_loss": math.nan}
    net.eval()
    tot = gsum = vsum = 0.0
    n = 0
    for t in device_batches(data.val_batches(cfg.batch_size), device):
        pg, pv, _ = net(t[..., FEATURES])
        parts = _loss(pg, pv, t, cfg)
        b = t.shape[0]
        tot += b * float(parts.total)
        gsum += b * float(parts.gain)
        vsum += b * float(parts.vad)
        n += b
    return {"val_loss": tot / n, "val_gain_loss": gsum / n, "val_vad_loss": vsum / n}


def _make_optimizer(net: torch.nn.Module, cfg: TrainConfig02) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                             eps=cfg.eps, weight_decay=cfg.weight_decay)


def _weights(net: RNNoise02Net) -> dict:
    return {n: {"weights": w, "bias": b} for n, (w, b) in net.float_layers().items()}


def train02(
    data: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    config: TrainConfig02 | None = None,
    resume: bool = False,
    init: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    max_step_frames: int | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train an RNNoise 0.2 model on 98-column rows.

    Parameters
    ----------
    data : path-like
        ``.f32`` rows or ``.h5`` (dataset ``/data``) of 98 columns; read out of core.
    run_dir : path-like
        Output folder (see the module docstring).
    config : TrainConfig02, optional
        The recipe (default: upstream's); its sizes must be the ``init`` model's
        (:func:`run_sizes` finds them).
    resume : bool
        Continue the run in ``run_dir`` (weights, AdamW state, step count, carried GRU states,
        RNG): the result equals an uninterrupted run's (same seed, CPU).
    init : path-like, optional
        Fine-tune from a 0.2 model (blob ``.bin``, ``rnnoise_data.c``, a 0.2 checkpoint, the
        official model ``rnnoise-0.2``...): its float weights (the int8 layers' float twins) or,
        for an int8-only model, its dequantised int8 weights. Ignored when resuming.
    device : {"auto", "cpu", "cuda"}
        ``auto``: CUDA when torch sees a GPU (cuDNN's GRU), else the CPU.
    progress : bool
        Progress bar per epoch (on a terminal).
    callback : callable, optional
        ``callback(epoch, metrics)`` after each epoch's checkpoint is written (1-based epoch).
    max_step_frames : int, optional
        Frames per forward/backward pass: larger batches accumulate their gradient over chunks
        of whole sequences (default 16,000 on CPU, no limit on CUDA). Keep it across a resume.
    threads : int, optional
        CPU threads of torch (default: every CPU this process may use, unless
        ``OMP_NUM_THREADS`` says otherwise). ``torch.nn.GRU`` synchronises its threads at
        every time step: on a CPU shared with other work, 1 can be many times faster.

    Returns
    -------
    TrainResult
        ``model_path`` is ``RUN_DIR/model.bin``.

    Raises
    ------
    InputError, CheckpointMismatch, TrainingDiverged
        As the v0.1 trainer (:func:`rnnoise_kit.training.trainer.train`).
    SettingError
        ``init`` model sizes differ from the recipe's.
    """
    run = Path(run_dir)
    data_path = Path(data)
    init_model_and_source = init_model(init) if init is not None and not resume else None
    if config is None:
        c, g, v = run_sizes(init=init) if init_model_and_source else run_sizes()
        config = TrainConfig02(conv1_size=c, gru_size=g, variant=v)
    cfg = config
    seqs = SequenceData(data_path, cfg.window, cfg.val_split, columns=ROW)
    if run.exists() and not run.is_dir():
        raise OutputError(run, "is a file, not a folder; give the run folder to write")
    state_path = run / STATE_NAME
    dev = _resolve_device(device)
    if threads is None:
        use_all_cpus()
    elif threads < 1:
        raise SettingError("threads", f"must be at least 1 (got {threads})")
    else:
        torch.set_num_threads(int(threads))
    state, header, ident = open_run(run, data_path, cfg, resume, ROW)

    progress_state = {"step": 0, "states": None}
    if state is not None:
        net, opt, history = restore_state(
            state, state_path, lambda: RNNoise02Net(cfg.conv1_size, cfg.gru_size, cfg.variant),
            lambda n: _make_optimizer(n, cfg), dev)
        try:
            progress_state["step"] = int(state["step"])
            if state.get("states") is not None:
                progress_state["states"] = [s.to(dev) for s in state["states"]]
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise DamagedTrainingState(state_path, damaged_state_message(exc)) from None
        init_info = header.get("init")
    else:
        torch.manual_seed(cfg.seed)
        net = RNNoise02Net(cfg.conv1_size, cfg.gru_size, cfg.variant)
        init_info = None
        if init_model_and_source is not None:
            model, source, init_file = init_model_and_source
            have = (model.conv1_size, model.gru_size, model.variant)
            if have != (cfg.conv1_size, cfg.gru_size, cfg.variant):
                raise SettingError("size", f"the recipe's network (conv1 {cfg.conv1_size}, GRU "
                                   f"{cfg.gru_size}, {cfg.variant} heads) is not the model's "
                                   f"(conv1 {have[0]}, GRU {have[1]}, {have[2]} heads)", path=init)
            net.load_float_layers(model.float_layers() if source == "float"
                                  else model.dequantized_layers())
            init_info = {"path": str(init_file.resolve()), "format": model_format_of(init_file),
                         "weights": source}
        net.to(dev)
        opt = _make_optimizer(net, cfg)
        history = []

    header = {"arch": ARCH_V02, "topology": net.topology, "config": asdict(cfg)} | run_header(
        seqs, ident, init_info, dev)
    header["data"]["columns"] = ROW
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(run, write_problem(exc, run)) from exc
    n_batches = seqs.n_train_batches(cfg.batch_size)
    if max_step_frames is None:
        max_step_frames = 16_000 if dev.type == "cpu" else 1 << 62
    step_seqs = max(1, int(max_step_frames) // cfg.window)
    try:
        for epoch in range(len(history), cfg.epochs):
            t0 = time.perf_counter()
            net.quantize = epoch >= cfg.qat_from()
            desc = f"epoch {epoch + 1}/{cfg.epochs}" + (" (int8-aware)" if net.quantize else "")
            with progress_bar(n_batches, desc, enabled=progress) as bar:
                m = _run_epoch(net, opt, seqs, cfg, epoch, dev, bar, step_seqs, progress_state)
                m |= _validate(net, seqs, cfg, dev)
                bar.update(info=f"loss {format_loss(m['loss'])} val {format_loss(m['val_loss'])}")
            m["epoch"] = epoch + 1
            m["seconds"] = time.perf_counter() - t0
            header["step"] = progress_state["step"]
            states = progress_state["states"]
            end_epoch(run, net, opt, m, history, header, seqs.n_val > 0, dev,
                      lambda: _weights(net), callback, {
                          "step": progress_state["step"],
                          "states": None if states is None else [s.detach().cpu()
                                                                 for s in states]})
    finally:
        seqs.close()

    return finish_run(run, lambda: _weights(net), header, history,
                      ("model.bin", "rnnoise_data.c"))


def quantization_gap(model, data: str | os.PathLike, sequences: int | None = None,
                     val_split: float = 0.1, window: int = 2000,
                     config: TrainConfig02 | None = None) -> dict:
    """Float vs int8 of an exported model on held-out rows, computed as C computes them
    (:class:`~rnnoise_kit.model.v02.network.Network02`, the scalar build).

    Parameters
    ----------
    model : RNNoise02Model
        With float twins (the float path); its ``without_float()`` is the int8 path.
    data : path-like
        98-column rows; the validation sequences (the last ``val_split``) are used, at most
        ``sequences`` of them.

    Returns
    -------
    dict
        ``loss_float``, ``loss_int8`` (the recipe's loss on the C outputs, each sequence from
        a zero state), ``gain_max_diff``, ``gain_mean_diff``, ``vad_max_diff``, ``frames``.
    """
    from rnnoise_kit.model.v02.network import Network02

    cfg = config or TrainConfig02()
    nets = {"float": Network02(model), "int8": Network02(model.without_float())}
    with SequenceData(data, window, val_split, columns=ROW) as seqs:
        idx = np.arange(seqs.n_train, seqs.n_sequences)
        if idx.size == 0:
            idx = np.arange(seqs.n_sequences)
        rows = seqs.read(idx[:sequences])
    out = {"float": ([], []), "int8": ([], [])}
    for seq in rows:
        for name, net in nets.items():
            g, v = net.process(seq[:, FEATURES])
            out[name][0].append(g)
            out[name][1].append(v)
    result = {"frames": int(rows.shape[0] * rows.shape[1])}
    t = torch.from_numpy(rows)
    for name, (gs, vs) in out.items():
        # causal output t + 4 is the valid output t, whose target is row t + 3
        lag = 2 * (CONV_KERNEL - 1)
        g = torch.from_numpy(np.stack(gs))[:, lag:]
        v = torch.from_numpy(np.stack(vs))[:, lag:, None]
        result[f"loss_{name}"] = float(_loss(g, v, t, cfg).total)
    gf, gi = np.stack(out["float"][0]), np.stack(out["int8"][0])
    vf, vi = np.stack(out["float"][1]), np.stack(out["int8"][1])
    result |= {"gain_max_diff": float(np.abs(gf - gi).max()),
               "gain_mean_diff": float(np.abs(gf - gi).mean()),
               "vad_max_diff": float(np.abs(vf - vi).max())}
    return result
