"""Train an RNNoise v0.1 model (spec section 13).

>>> from rnnoise_kit.training.trainer import TrainConfig, train
>>> res = train("training.h5", "run", config=TrainConfig(epochs=3))   # doctest: +SKIP
>>> res.model_path                                                     # doctest: +SKIP
PosixPath('run/model.rnnn')

``TrainConfig(recipe="seed")`` reproduces ``rnn_train.py``: gain loss ``mycost`` and VAD loss
``my_crossentropy`` weighted 10 and 0.5, the "swapped" BCE of Keras >= 2.0.7, Adam (lr 1e-3,
eps 1e-7), every weight and bias clipped to +-0.499 after each step, L2 1e-6 on the GRU kernels
and recurrent kernels, batches of 32 sequences of 2000 frames, 120 epochs, the last 10 % of the
sequences held out. The default ``"modern"`` recipe changes the optimiser (AdamW without L2),
clips the gradient norm and ends with quantisation-aware epochs; a warm-up and cosine schedule
is a setting (:mod:`rnnoise_kit.training.recipe`). Every item is a :class:`TrainConfig` field and is
recorded in the checkpoint.

Files in the run folder:

``checkpoint.npz`` / ``checkpoint.json``
    After every epoch (atomic): float32 weights + a self-describing JSON header, readable
    without torch (:mod:`rnnoise_kit.model.checkpoint`); accepted wherever a model file is.
``train_state.pt``
    After every epoch (atomic): weights, Adam state, torch RNG state and history; used only by
    ``resume=True``.
``metrics.csv``
    One row per trained epoch (rewritten from the history each epoch, so a resumed run never
    repeats or drops a row).
``model.rnnn``, ``rnn_data.c``, ``rnn_data.h``, ``model.pt``
    At the end: the quantised model for librnnoise / FFmpeg ``arnndn``, the C source, and the
    torch ``state_dict`` with the JSON header.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnoise_kit.errors import InputError, OutputError, SettingError, TrainingDiverged
from rnnoise_kit.fileio import (
    atomic_path,
    atomic_paths,
    atomic_write_text,
    sha256_file,
    write_problem,
)
from rnnoise_kit.model.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointMismatch,
    DamagedTrainingState,
    checkpoint_files,
    read_checkpoint,
    write_checkpoint,
)
from rnnoise_kit.model.core import (
    CLASSIC_SIZES,
    GRU_LAYERS,
    LAYER_NAMES,
    RNNoiseModel,
    compiled_problem,
    layer_sizes,
    reader_problem,
    refuse_unloadable,
)
from rnnoise_kit.progress import progress_bar
from rnnoise_kit.training import gru
from rnnoise_kit.training.data import SequenceData, prefetched
from rnnoise_kit.training.layout import FEATURES, GAINS, ROW, VAD
from rnnoise_kit.training.loss import anchor_targets, rnnoise_loss
from rnnoise_kit.training.network import RNNoiseNet
from rnnoise_kit.training.qat import fake_quantised
from rnnoise_kit.training.recipe import TrainConfig, learning_rate, qat_epochs

__all__ = [
    "METRIC_COLUMNS",
    "CheckpointMismatch",
    "DamagedTrainingState",
    "TrainConfig",
    "TrainResult",
    "load_torch_model",
    "net_from_model",
    "run_sizes",
    "train",
]

STATE_NAME = "train_state.pt"
METRIC_COLUMNS = (
    "epoch",
    "loss",
    "val_loss",
    "gain_loss",
    "vad_loss",
    "val_gain_loss",
    "val_vad_loss",
    "seconds",
)


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    epochs : int
        Epochs trained in total (over all resumes).
    loss, val_loss : float
        Training and validation loss of the last epoch (NaN if none / no validation set).
    model_path : pathlib.Path
        ``RUN_DIR/model.rnnn``.
    checkpoint_path : pathlib.Path
        ``RUN_DIR/checkpoint.npz``.
    run_dir : pathlib.Path
    history : list of dict
        One :data:`METRIC_COLUMNS` row per epoch.
    """

    epochs: int
    loss: float
    val_loss: float
    model_path: Path
    checkpoint_path: Path
    run_dir: Path
    history: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- helpers


def _versions() -> dict:
    from rnnoise_kit import __version__

    return {
        "rnnoise_kit": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _layer_activations(acts: tuple[str, str, str]) -> dict[str, str]:
    return {
        "input_dense": "tanh",
        "vad_gru": acts[0],
        "noise_gru": acts[1],
        "denoise_gru": acts[2],
        "denoise_output": "sigmoid",
        "vad_output": "sigmoid",
    }


def _topology(net: RNNoiseNet) -> dict:
    return {i.name: {"kind": i.kind, "inputs": i.nb_inputs, "units": i.nb_neurons,
                     "activation": i.activation} for i in net.layer_info()}


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def _data_identity(path: Path, known: dict | None = None) -> dict:
    """Path, size, mtime and sha256 of the matrix; the hash is reused when size+mtime match
    ``known`` (the previous checkpoint's record) or this process hashed it already. A sharded
    matrix is identified by its index, which holds every shard's sha256."""
    from rnnoise_kit.training.sharded import INDEX_NAME

    target = path / INDEX_NAME if path.is_dir() else path
    st = target.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _HASH_CACHE.get(key)
    if (digest is None and known and known.get("bytes") == st.st_size
            and known.get("mtime_ns") == st.st_mtime_ns and known.get("sha256")):
        digest = known["sha256"]
    if digest is None:
        digest = sha256_file(target)
    _HASH_CACHE[key] = digest
    return {"path": key[0], "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        # CUDA only with the fused Triton recurrence: without it the GRU runs step by step as
        # small kernels, slower than the CPU's fused numba kernels (measured on an H200 host:
        # 20.4 s vs 6.8 s a 500k-frame epoch)
        if torch.cuda.is_available() and gru.triton_available("cuda"):
            return torch.device("cuda")
        return torch.device("cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise SettingError("device", f"must be auto, cpu or cuda (got {device!r})")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError("device", f"{device}: no CUDA device is available to torch")
    return torch.device(device)


def use_all_cpus() -> None:
    """All the CPUs this process may use, unless the user chose (OMP_NUM_THREADS)."""
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(max(1, n))


def _make_optimizer(net: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    kind, kw = ((torch.optim.AdamW, {"weight_decay": cfg.weight_decay})
                if cfg.optimizer == "adamw" else (torch.optim.Adam, {}))
    try:
        return kind(net.parameters(), lr=cfg.lr, eps=cfg.eps, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - fused unsupported
        return kind(net.parameters(), lr=cfg.lr, eps=cfg.eps, **kw)


def net_from_model(model: RNNoiseModel, backend: str = "auto") -> RNNoiseNet:
    """An :class:`RNNoiseNet` holding a model's (dequantised) weights, at the model's sizes.

    Raises
    ------
    InputError
        The model's dense activations are not the v0.1 trainer's.
    """
    acts = {n: lay.activation.label.lower() for n, lay in model.layers()}
    fixed = {"input_dense": "tanh", "denoise_output": "sigmoid", "vad_output": "sigmoid"}
    bad = [f"{n} is {acts[n]}" for n, a in fixed.items() if acts[n] != a]
    if bad:
        raise InputError(None, f"model cannot be trained by this network ({', '.join(bad)})")
    net = RNNoiseNet(tuple(acts[n] for n in GRU_LAYERS), backend=backend,
                     sizes=model.hidden_sizes)
    _load_float_arrays(net, model.to_float_arrays())
    return net


def _load_float_arrays(net: RNNoiseNet, arrays: dict) -> None:
    w = {}
    for name in LAYER_NAMES:
        d = arrays[name]
        w[name] = ([d["kernel"], d["recurrent_kernel"], d["bias"]] if name in GRU_LAYERS
                   else [d["kernel"], d["bias"]])
    net.set_weights(w)


def load_torch_model(path: str | os.PathLike, backend: str = "auto") -> RNNoiseNet:
    """An :class:`RNNoiseNet` from any model file (``.rnnn``, ``.c``, Keras, checkpoint) or
    a ``model.pt`` written by :func:`train` (exact float32 weights)."""
    p = Path(path)
    if p.suffix == ".pt":
        blob = torch.load(p, map_location="cpu", weights_only=True)
        header = json.loads(blob["header"])
        net = RNNoiseNet(tuple(header["config"]["activations"]), backend=backend,
                         sizes=header["config"].get("sizes", CLASSIC_SIZES))
        net.load_state_dict(blob["state_dict"])
        return net
    from rnnoise_kit.model import load_model
    from rnnoise_kit.model.formats import require_v01

    return net_from_model(require_v01(load_model(p), p), backend)


def _write_metrics(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_COLUMNS)
    for row in history:
        w.writerow([row["epoch"]] + [repr(float(row[c])) for c in METRIC_COLUMNS[1:]])
    atomic_write_text(path, buf.getvalue())


def _write_epoch(state_path: Path, state: dict, checkpoint: dict[Path, bytes]) -> None:
    """The training state and the checkpoint of an epoch, all or none (a full disk between
    them would leave a checkpoint that neither a resume nor a fresh run accepts). The state
    is renamed into place first: a kill between the renames leaves a run that resumes."""
    with atomic_paths([state_path, *checkpoint]) as temps:
        temps[0].write_bytes(_torch_bytes(state))
        for tmp, data in zip(temps[1:], checkpoint.values(), strict=True):
            tmp.write_bytes(data)


def _torch_bytes(obj) -> bytes:
    """``torch.save`` into memory: written to a file, a full disk surfaces as a RuntimeError
    of torch's zip writer ("unexpected pos"); as bytes, a plain OSError with its errno."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(_torch_bytes(obj))


def format_loss(x: float) -> str:
    """A loss for the progress line: 4 decimals, ``n/a`` when not measured (NaN)."""
    return "n/a" if math.isnan(x) else f"{x:.4f}"


# ----------------------------------------------------------------------------- training


def device_batches(batches: Iterator[np.ndarray], device: torch.device) -> Iterator[torch.Tensor]:
    """Numpy batches as tensors on ``device``, in order.

    On CUDA the next batch is read (from disk) into pinned memory on a worker thread while the
    GPU trains on this one, and copied without blocking; on the CPU they are wrapped as they
    come (the fused kernels use every core already).
    """
    if device.type != "cuda":
        for batch in batches:
            yield torch.from_numpy(batch)
        return
    for pinned in prefetched(batches, lambda b: torch.from_numpy(b).pin_memory()):
        yield pinned.to(device, non_blocking=True)


def _targets(part: torch.Tensor, cfg: TrainConfig, anchor) -> torch.Tensor:
    """The target gains of a batch (B, T, 87): the matrix's, or with an ``anchor`` network
    those pulled towards its gains in the frames with speech (:func:`anchor_targets`)."""
    target = part[..., GAINS]
    if anchor is None:
        return target
    with torch.no_grad():
        reference, _ = anchor(part[..., FEATURES])
    return anchor_targets(target, part[..., VAD], reference, cfg.anchor)


def _run_epoch(net, opt, data: SequenceData, cfg: TrainConfig, epoch: int, device, bar,
               step_seqs: int, quantise: bool = False, anchor=None) -> dict:
    """One epoch; each batch's gradient is accumulated over chunks of ``step_seqs`` sequences
    (the same gradient as the whole batch, up to float rounding, with less memory).
    ``quantise``: forward and backward at the int8 weights (straight-through, :mod:`.qat`).
    ``anchor``: the frozen network whose gains :func:`_targets` blends in."""
    net.train()
    tot = gsum = vsum = 0.0
    n = 0
    n_batches = data.n_train_batches(cfg.batch_size)
    scheduled = cfg.schedule != "constant" or cfg.warmup > 0
    for i, t in enumerate(device_batches(data.train_batches(cfg.batch_size, cfg.seed, epoch),
                                         device)):
        b = t.shape[0]
        if scheduled:  # a function of the step alone: a resumed run continues it exactly
            lr = learning_rate(cfg, epoch * n_batches + i, cfg.epochs * n_batches)
            for group in opt.param_groups:
                group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        total = gain = vad_l = 0.0
        with fake_quantised(net, quantise, cfg.clip):
            for a in range(0, b, step_seqs):
                part = t[a : a + step_seqs]
                w = part.shape[0] / b
                gains, vad = net(part[..., FEATURES])
                parts = rnnoise_loss(gains, _targets(part, cfg, anchor), vad, part[..., VAD],
                                     cfg.bce, cfg.gain_weight, cfg.vad_weight, cfg.undershoot)
                (parts.total * w if w != 1 else parts.total).backward()
                total += w * float(parts.total.detach())
                gain += w * float(parts.gain.detach())
                vad_l += w * float(parts.vad.detach())
                del gains, vad, parts
            reg = net.regularization_loss(cfg.l2)
            reg.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        net.clip_weights_(cfg.clip)
        tot += b * (total + float(reg.detach()))
        gsum += b * gain
        vsum += b * vad_l
        n += b
        bar.advance(1)
        bar.update(info=f"loss {tot / n:.4f}")
    return {"loss": tot / n, "gain_loss": gsum / n, "vad_loss": vsum / n}


@torch.no_grad()
def _validate(net, data: SequenceData, cfg: TrainConfig, device, quantise: bool = False,
              anchor=None) -> dict:
    if data.n_val == 0:
        return {"val_loss": math.nan, "val_gain_loss": math.nan, "val_vad_loss": math.nan}
    with fake_quantised(net, quantise, cfg.clip):
        return _validation_loss(net, data, cfg, device, anchor)


def _validation_loss(net, data: SequenceData, cfg: TrainConfig, device, anchor=None) -> dict:
    net.eval()
    reg = float(net.regularization_loss(cfg.l2))
    tot = gsum = vsum = 0.0
    n = 0
    for t in device_batches(data.val_batches(cfg.batch_size), device):
        gains, vad = net(t[..., FEATURES])
        parts = rnnoise_loss(gains, _targets(t, cfg, anchor), vad, t[..., VAD], cfg.bce,
                             cfg.gain_weight, cfg.vad_weight, cfg.undershoot)
        b = t.shape[0]
        tot += b * (float(parts.total) + reg)
        gsum += b * float(parts.gain)
        vsum += b * float(parts.vad)
        n += b
    return {"val_loss": tot / n, "val_gain_loss": gsum / n, "val_vad_loss": vsum / n}


def _check_resumable(ck_header: dict, cfg: TrainConfig, ident: dict, run_dir: Path) -> None:
    # runs made before sizes, undershoot and anchor were settings trained the classic network with
    # the symmetric loss
    old = {"sizes": list(CLASSIC_SIZES), "undershoot": 0.0, "anchor": 0.0} | ck_header.get(
        "config", {})
    diffs = []
    if isinstance(cfg, TrainConfig):
        settings = cfg.recipe_settings()
        if "recipe" not in old:  # written before named recipes: rnn_train.py's, the seed recipe
            old = TrainConfig(recipe="seed").recipe_settings() | old
    else:  # RNNoise 0.2's TrainConfig02
        settings = cfg.recipe()
    for k, v in settings.items():
        if old.get(k) != v:
            diffs.append(f"{k} {old.get(k)!r} -> {v!r}")
    if diffs:
        raise CheckpointMismatch(
            run_dir, "checkpoint was trained with a different recipe (" + ", ".join(diffs)
            + "); use another output folder or the same settings")
    old_sha = ck_header.get("data", {}).get("sha256")
    if old_sha != ident["sha256"]:
        raise CheckpointMismatch(
            run_dir, f"checkpoint was trained on different data (sha256 {str(old_sha)[:12]}... "
            f"of {ck_header.get('data', {}).get('path')}, this file is "
            f"{ident['sha256'][:12]}...); use another output folder")


def run_activations(
    activations: str | Sequence[str] | None = None,
    init: str | os.PathLike | None = None,
) -> tuple[str, str, str]:
    """The GRU activations a run trains with.

    ``activations`` when given; otherwise those of the ``init`` model (fine-tuning keeps its
    network); otherwise the recipes' (``TrainConfig().activations``, as ``rnn_train.py``).

    Parameters
    ----------
    activations : str or sequence of str, optional
        ``vad_gru,noise_gru,denoise_gru`` activations: ``"relu,relu,relu"`` or 3 names.
    init : path-like or str, optional
        The model a run fine-tunes from: an RNNoise v0.1 model file or name
        (:func:`load_init_model`).

    Returns
    -------
    tuple of 3 str
        Lower case, as :class:`TrainConfig` takes them.

    Raises
    ------
    SettingError
        ``activations`` is not 3 names.
    InputError
        ``init`` cannot be read or is not an RNNoise v0.1 model.
    """
    if activations is None and init is not None:
        model, _ = load_init_model(init)
        return tuple(model.activations[n].label.lower()  # type: ignore[return-value]
                     for n in LAYER_NAMES if n in GRU_LAYERS)
    if activations is None:
        return TrainConfig().activations
    names = (activations.replace(" ", "").split(",") if isinstance(activations, str)
             else list(activations))
    if len(names) != 3:
        raise SettingError("activations", f"takes 3 names, e.g. relu,relu,relu (got "
                                          f"{','.join(map(str, names))})")
    return tuple(str(n).lower() for n in names)  # type: ignore[return-value]


def load_init_model(init: str | os.PathLike) -> tuple[RNNoiseModel, Path]:
    """The v0.1 model a run fine-tunes from, and the file it was read from.

    Parameters
    ----------
    init : path-like or str
        A model file (``.rnnn``, ``rnn_data.c``, Keras ``.hdf5``, checkpoint or run folder),
        a public model name (``std``, ``bd``, ...; from the model cache) or ``bundled``.

    Raises
    ------
    InputError
        Not readable, not an RNNoise v0.1 model, or a public model missing from the cache.
    """
    from rnnoise_kit.model import load_model
    from rnnoise_kit.model.formats import require_v01
    from rnnoise_kit.model.registry import model_path

    file = model_path(init)
    return require_v01(load_model(file), init), file


def run_sizes(
    sizes: str | Sequence[int] | None = None,
    init: str | os.PathLike | None = None,
) -> tuple[int, int, int, int]:
    """The layer sizes a run trains: ``sizes`` when given; otherwise those of the ``init``
    model (fine-tuning keeps its network); otherwise the classic ``(24, 24, 48, 96)``.

    Parameters
    ----------
    sizes : str or sequence of 4 int, optional
        Units of input_dense, vad_gru, noise_gru and denoise_gru (``"24,24,62,128"``).
    init : path-like or str, optional
        The model a run fine-tunes from (:func:`load_init_model`).

    Returns
    -------
    tuple of 4 int

    Raises
    ------
    SettingError
        ``sizes`` is not 4 unit counts.
    InputError
        ``init`` cannot be read or is not an RNNoise v0.1 model.
    """
    if sizes is None and init is not None:
        return load_init_model(init)[0].hidden_sizes
    if sizes is None:
        return TrainConfig().sizes
    return TrainConfig(sizes=sizes).sizes  # type: ignore[arg-type]


def _check_sizes(sizes: Sequence[int], allow_unloadable: bool) -> bool:
    """Refuse sizes FFmpeg and librnnoise cannot load unless allowed (then warn); returns
    whether a librnnoise build can compile the model in (``rnn_data.c``)."""
    if not allow_unloadable:
        refuse_unloadable(sizes)
    shape = layer_sizes(sizes)
    problem, compiled = reader_problem(shape), compiled_problem(shape)
    text = ",".join(map(str, sizes))
    if problem:
        tail = (f"; no rnn_data.c is written ({compiled})" if compiled else
                "; its rnn_data.c compiles into a librnnoise v0.1.1 build")
        warnings.warn(f"sizes {text}: {problem}; model.rnnn runs in rnnoise-kit only{tail}",
                      UnloadableModelWarning, stacklevel=3)
    return compiled is None


class UnloadableModelWarning(UserWarning):
    """:func:`train` was allowed to train sizes FFmpeg and librnnoise v0.1.1 cannot load."""


def train(
    data: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    config: TrainConfig | None = None,
    resume: bool = False,
    init: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    max_step_frames: int | None = None,
    allow_unloadable: bool = False,
) -> TrainResult:
    """Train a model on a training matrix.

    Parameters
    ----------
    data : path-like
        ``.h5`` (dataset ``/data``) or ``.f32`` matrix of 87 columns; read out of core.
    run_dir : path-like
        Output folder (created); see the module docstring for its files.
    config : TrainConfig, optional
        The recipe; default :class:`TrainConfig()` (the modern recipe), with the activations
        and sizes of the ``init`` model when there is one (:func:`run_activations`,
        :func:`run_sizes`). ``config.sizes`` must make a model FFmpeg ``arnndn`` and
        librnnoise v0.1.1 load (every layer at most 128 inputs and units:
        :func:`rnnoise_kit.model.core.reader_problem`) unless ``allow_unloadable``.
    resume : bool
        Continue the run in ``run_dir`` from its last checkpoint (weights, Adam state, RNG), up
        to ``config.epochs`` in total; starts fresh when there is none. The result equals an
        uninterrupted run (same seed, CPU).
    init : path-like or str, optional
        Fine-tune from a model file (``.rnnn``, ``.c``, Keras ``.hdf5``, checkpoint) or a
        public model name (:func:`load_init_model`): its weights (int8 / 256) replace the
        random initialisation; with ``config.anchor``, also the network whose gains the
        speech frames' targets are pulled towards. Ignored when resuming (an anchored run
        reads the model its checkpoint names again).
    device : {"auto", "cpu", "cuda"}
        ``"auto"``: CUDA when torch sees a GPU and Triton is installed (the fused Triton
        recurrence), otherwise the CPU (the fused Numba recurrence).
    progress : bool
        Show a progress bar per epoch (on a terminal).
    callback : callable, optional
        ``callback(epoch, metrics)`` after each epoch's checkpoint is written (1-based epoch).
    max_step_frames : int, optional
        Frames per forward/backward pass: a batch larger than this accumulates its gradient
        over chunks of whole sequences (the same gradient up to float rounding; bounds memory).
        Default: 32,000 on CPU (16 sequences of 2000 frames; peak RSS below 1 GB), no limit on
        CUDA. Not part of the recipe, but keep it fixed across a resume for identical results.
    allow_unloadable : bool
        Train sizes outside that family anyway, for use in rnnoise-kit only: an
        :class:`UnloadableModelWarning` says why; ``rnn_data.c`` is written only when a
        librnnoise build can hold the model (at most 128 units and 384 inputs per layer).

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        Unusable data (missing, not 87 columns, fewer rows than one window, a NaN or infinite
        value) or ``init`` model; ``run_dir`` already holds a run and ``resume`` is False.
    DamagedTrainingState
        ``resume`` with a ``train_state.pt`` that cannot be read.
    SettingError
        ``config.sizes`` outside the loadable family without ``allow_unloadable``; sizes or
        activations other than those of the ``init`` model; ``config.anchor`` without
        ``init``.
    CheckpointMismatch
        ``resume`` with a checkpoint made from other data or another recipe.
    TrainingDiverged
        An epoch ended with a non-finite loss or weights; it was not saved (the previous
        epoch's checkpoint stays).
    """
    cfg = config if config is not None else TrainConfig(activations=run_activations(init=init),
                                                        sizes=run_sizes(init=init))
    compilable = _check_sizes(cfg.sizes, allow_unloadable)
    run = Path(run_dir)
    if run.exists() and not run.is_dir():
        raise OutputError(run, "is a file, not a folder; give the run folder to write")
    data_path = Path(data)
    seqs = SequenceData(data_path, cfg.window, cfg.val_split)
    state_path = run / STATE_NAME
    dev = _resolve_device(device)
    gru.keep_freed_memory()
    use_all_cpus()

    state, header, ident = open_run(run, data_path, cfg, resume)

    init_info = None
    anchor = None
    if state is not None:
        net, opt, history = restore_state(
            state, state_path, lambda: RNNoiseNet(cfg.activations, sizes=cfg.sizes),
            lambda n: _make_optimizer(n, cfg), dev)
        init_info = header.get("init")
        if cfg.anchor > 0:
            anchor = _anchor_network(_resumed_init_model(init_info, run), dev)
    else:
        if cfg.anchor > 0 and init is None:
            raise SettingError("anchor", "needs a model to fine-tune from (init): its own gains "
                               "are what the targets are pulled towards")
        torch.manual_seed(cfg.seed)
        net = RNNoiseNet(cfg.activations, sizes=cfg.sizes)
        if init is not None:
            model, init_file = load_init_model(init)
            try:
                net_from_model(model, backend="torch")  # checks dense activations and sizes
            except InputError as exc:
                raise InputError(init, exc.problem) from None
            acts = tuple(model.activations[n].label.lower() for n in GRU_LAYERS)
            if acts != cfg.activations:
                raise SettingError("activations", f"{','.join(cfg.activations)} differ from the "
                                   f"model's GRU activations {','.join(acts)}; fine-tune it "
                                   f"with activations {','.join(acts)}", path=init)
            if model.hidden_sizes != cfg.sizes:
                have = ",".join(map(str, model.hidden_sizes))
                raise SettingError("sizes", f"{','.join(map(str, cfg.sizes))} differ from the "
                                   f"model's sizes {have}; fine-tune it with sizes {have}",
                                   path=init)
            try:
                _load_float_arrays(net, model.to_float_arrays())
            except (ValueError, KeyError) as exc:
                raise InputError(init, f"cannot initialise the network from it ({exc})") from None
            if cfg.anchor > 0:
                anchor = _anchor_network(model, dev)
            init_info = {"path": str(init_file.resolve()), "format": model_format_of(init_file)}
            if not Path(init).exists():  # named: a public model, or the bundled one
                init_info["name"] = os.fspath(init)
            if init_file.is_file():
                init_info["sha256"] = sha256_file(init_file)
        net.to(dev)
        opt = _make_optimizer(net, cfg)
        history = []

    header = {
        "topology": _topology(net),
        "activations": _layer_activations(cfg.activations),
        "config": asdict(cfg) | {"activations": list(cfg.activations)},
    } | run_header(seqs, ident, init_info, dev)

    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(run, write_problem(exc, run)) from exc
    n_batches = seqs.n_train_batches(cfg.batch_size)
    if max_step_frames is None:
        max_step_frames = 32_000 if dev.type == "cpu" else 1 << 62
    step_seqs = max(1, int(max_step_frames) // cfg.window)
    first_qat_epoch = cfg.epochs - qat_epochs(cfg)
    try:
        for epoch in range(len(history), cfg.epochs):
            quantise = epoch >= first_qat_epoch
            t0 = time.perf_counter()
            desc = f"epoch {epoch + 1}/{cfg.epochs}"
            with progress_bar(n_batches, desc, enabled=progress) as bar:
                m = _run_epoch(net, opt, seqs, cfg, epoch, dev, bar, step_seqs, quantise, anchor)
                m |= _validate(net, seqs, cfg, dev, quantise, anchor)
                bar.update(info=f"loss {format_loss(m['loss'])} val {format_loss(m['val_loss'])}")
            m["epoch"] = epoch + 1
            m["seconds"] = time.perf_counter() - t0
            end_epoch(run, net, opt, m, history, header, seqs.n_val > 0, dev,
                      net.get_weights, callback)
    finally:
        seqs.close()

    exports = ("model.rnnn", "rnn_data.c") if compilable else ("model.rnnn",)
    result = finish_run(run, net.get_weights, header, history, exports)
    _torch_save({"state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                 "header": json.dumps(header)}, run / "model.pt")
    return result


def _anchor_network(model: RNNoiseModel, device) -> RNNoiseNet:
    """A frozen :func:`net_from_model` of ``model``, whose gains anchor the targets
    (``cfg.anchor``). Made without drawing from torch's generator, so the run's shuffles and
    initialisation are those of the same run without an anchor."""
    with torch.random.fork_rng(devices=[]):
        anchor = net_from_model(model)
    anchor.requires_grad_(False)
    return anchor.to(device).eval()


def _resumed_init_model(init_info: dict | None, run: Path) -> RNNoiseModel:
    """The model a resumed anchored run fine-tuned from, as its checkpoint recorded it.

    Raises
    ------
    CheckpointMismatch
        The checkpoint names no such model, or the file is gone or has changed.
    """
    path = (init_info or {}).get("path")
    if path is None or not Path(path).is_file():
        raise CheckpointMismatch(run, "the run is anchored to the model it fine-tuned from, "
                                 f"and that model ({path}) is gone; resume where it is")
    if init_info.get("sha256") not in (None, sha256_file(Path(path))):
        raise CheckpointMismatch(run, f"the run is anchored to the model it fine-tuned from, "
                                 f"and {path} has changed since")
    return load_init_model(path)[0]


def restore_state(state: dict, state_path: Path, make_net: Callable[[], torch.nn.Module],
                  make_optimizer: Callable[[torch.nn.Module], torch.optim.Optimizer],
                  device: torch.device):
    """The network, optimizer and history of a saved training state (either generation), the
    RNG restored after the network's initialisation drew from it.

    Raises
    ------
    DamagedTrainingState
        A damaged state (one line).
    """
    try:
        net = make_net()
        net.load_state_dict(state["model"])
        net.to(device)
        opt = make_optimizer(net)
        opt.load_state_dict(state["optimizer"])
        history = list(state["history"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DamagedTrainingState(state_path, damaged_state_message(exc)) from None
    return net, opt, history


def finish_run(run: Path, weights: Callable[[], dict], header: dict, history: list[dict],
               model_names: Sequence[str]) -> TrainResult:
    """End a run (either generation): a checkpoint even after 0 epochs, the models exported
    from it (``model_names``, the first is the result's ``model_path``)."""
    from rnnoise_kit.model.formats import save_model

    ck_path = run / CHECKPOINT_NAME
    header |= {"epoch": len(history), "metrics": history}
    if not ck_path.exists():  # epochs=0: still leave a loadable checkpoint
        write_checkpoint(ck_path, weights(), header)
        _write_metrics(run / "metrics.csv", history)
    model = read_checkpoint(ck_path).model()
    for name in model_names:
        save_model(model, run / name)
    last = history[-1] if history else {}
    return TrainResult(
        epochs=len(history),
        loss=float(last.get("loss", math.nan)),
        val_loss=float(last.get("val_loss", math.nan)),
        model_path=run / model_names[0],
        checkpoint_path=ck_path,
        run_dir=run,
        history=history,
    )


def run_header(seqs: SequenceData, ident: dict, init_info: dict | None,
               device: torch.device) -> dict:
    """The checkpoint header's entries that do not depend on the network: versions, data
    (identity and how it is cut), the model fine-tuned from, device, command line."""
    return {
        "versions": _versions(),
        "data": ident | {"rows": seqs.rows, "format": "h5" if seqs.h5 else "f32",
                         "sequences": seqs.n_sequences, "train_sequences": seqs.n_train,
                         "val_sequences": seqs.n_val},
        "init": init_info,
        "device": str(device),
        "command": " ".join(sys.argv) if sys.argv else "",
    }


def end_epoch(run: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, m: dict,
              history: list[dict], header: dict, validated: bool, device: torch.device,
              weights: Callable[[], dict], callback: Callable[[int, dict], None] | None,
              extra_state: dict | None = None) -> None:
    """Record a finished epoch (either generation): refuse a diverged one, append its
    metrics, write the training state and the checkpoint together, then ``metrics.csv``, then
    call ``callback``. ``extra_state`` adds entries to the training state."""
    epoch = int(m["epoch"])
    _check_diverged(net, m, validated, epoch)
    history.append({c: m[c] for c in METRIC_COLUMNS})
    header |= {"epoch": epoch, "metrics": history}
    _write_epoch(run / STATE_NAME, {
        "epoch": epoch,
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
        "history": history,
        "header": json.dumps(header),
    } | (extra_state or {}), checkpoint_files(run / CHECKPOINT_NAME, weights(), header))
    _write_metrics(run / "metrics.csv", history)
    if callback is not None:
        callback(epoch, dict(history[-1]))


def open_run(run: Path, data_path: Path, cfg, resume: bool,
             columns: int = ROW) -> tuple[dict | None, dict | None, dict]:
    """What a run folder holds, checked against this run (either generation).

    Returns ``(state, header, data identity)``: the saved training state and its header when
    resuming, else ``(None, None, identity)`` after checking the rows are finite (once per
    run: a resumed run trains on the same bytes, sha256 compared).

    Raises
    ------
    SettingError
        The folder holds a run and ``resume`` is False.
    CheckpointMismatch
        A checkpoint without its training state, or one of other data or another recipe
        (``cfg.recipe_settings()``, 0.2: ``cfg.recipe()``).
    """
    state_path = run / STATE_NAME
    if (run / CHECKPOINT_NAME).exists() or state_path.exists():
        if not resume:
            raise SettingError("resume", "is needed to continue the training run in it (or "
                                         "choose another output folder)", path=run)
        if not state_path.exists():
            raise CheckpointMismatch(run, f"{CHECKPOINT_NAME} has no {STATE_NAME} beside it; "
                                          "cannot resume (fine-tune from it with init instead)")
        state, header = _read_state(state_path)
        ident = _data_identity(data_path, header.get("data"))
        _check_resumable(header, cfg, ident, run)
        return state, header, ident
    ident = _data_identity(data_path)
    _check_finite_rows(data_path, columns)
    return None, None, ident


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first[:120]}" if first else type(exc).__name__


def damaged_state_message(exc: BaseException) -> str:
    """The one-line problem of an unreadable ``train_state.pt`` (both generations' trainers)."""
    return (f"cannot read the training state ({_one_line(exc)}): the file is damaged or was "
            f"not written by rnnoise-kit; cannot resume from it. Start a new run in another "
            f"folder, or fine-tune from {CHECKPOINT_NAME} (init)")


_STATE_KEYS = ("epoch", "model", "optimizer", "torch_rng", "history", "header")
"""What ``train_state.pt`` holds (written after every epoch)."""


def _read_state(path: Path) -> tuple[dict, dict]:
    """``train_state.pt`` and its JSON header; InputError (one line) when damaged."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise KeyError(f"no {missing[0]!r}")
        header = json.loads(state["header"])
        if not isinstance(header, dict) or "config" not in header:
            raise ValueError("its header is not a training header")
    except Exception as exc:  # a truncated or foreign file: torch's messages run to pages
        raise DamagedTrainingState(path, damaged_state_message(exc)) from None
    return state, header


def _check_finite_rows(path: Path, columns: int = ROW) -> None:
    """Refuse a matrix holding NaN or infinity before training on it (one line)."""
    from rnnoise_kit.training.matrix import find_nonfinite

    where = find_nonfinite(path, columns)
    if where is not None:
        row, col = where
        raise InputError(path, f"row {row} column {col} is not finite (NaN or infinity); "
                               "a model cannot be trained on it")


def _check_diverged(net: torch.nn.Module, m: dict, validated: bool, epoch: int) -> None:
    """Raise TrainingDiverged before a non-finite epoch is saved over the last good one."""
    losses = [m["loss"]] + ([m["val_loss"]] if validated else [])
    with torch.no_grad():
        bad_weights = not all(bool(torch.isfinite(p).all()) for p in net.parameters())
    if bad_weights or not all(math.isfinite(x) for x in losses):
        kept = (f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1
                else "nothing was saved")
        raise TrainingDiverged(
            epoch, f"training diverged in epoch {epoch} (loss {m['loss']:.4g}"
            + (", non-finite weights" if bad_weights else "") + f"); {kept}. "
            "Try a lower learning rate")


def model_format_of(path: str | os.PathLike) -> str:
    """The format name of a model file, as recorded in a checkpoint's ``init``."""
    from rnnoise_kit.model.formats import detect_format

    return detect_format(path)
