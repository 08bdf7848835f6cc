"""Training-speed benchmark of the RNNoise network (one epoch of synthetic data).

Builds a synthetic (frames x 87) training matrix with realistic ranges, cuts it into
``window``-frame sequences and trains epochs of ``batch``-sequence batches exactly as
``rnn_train.py`` does (forward, loss, L2 penalty, backward, Adam with eps 1e-7, weight clipping).
A warm-up batch runs first so Numba compilation/cache loading is not counted; the epoch time is the
median of ``--epochs`` epochs. Prints one JSON line::

    {"cpu_s_per_epoch": ..., "peak_rss_mb": ...[, "cuda_s_per_epoch": ..., "cuda_gru": ...]}

Usage: ``python benchmarks/bench_train.py [--device cpu|cuda] [--frames 500000]``.
``--arch 0.2`` times :func:`rnnoise_kit.training.v02.trainer.train02` itself (upstream's 0.2
recipe, ``torch.nn.GRU``) on synthetic 98-column rows of ``--frames`` frames: ``--size small``
or ``default``, the epoch time the median of ``--epochs`` epochs after the first (warm-up).
On CUDA, ``cuda_gru`` names the recurrence that ran (``triton``, the fused kernels, or
``torch``, the step-by-step loop; ``--cuda-gru`` forces one, to compare them).
``--matrix FILE`` (``.h5``/``.f32``) reads the batches out of core from that file, as
:func:`rnnoise_kit.training.trainer.train` does (:class:`~rnnoise_kit.training.data.SequenceData`),
instead of an in-memory synthetic matrix.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np
import torch

from rnnoise_kit.training.data import SequenceData
from rnnoise_kit.training.gru import keep_freed_memory, resolved_backend
from rnnoise_kit.training.loss import rnnoise_loss
from rnnoise_kit.training.network import RNNoiseNet
from rnnoise_kit.training.trainer import device_batches


def synthetic_matrix(frames: int, seed: int = 0) -> np.ndarray:
    """A (frames, 87) float32 matrix shaped like the ``denoise_training`` output.

    Columns 0:42 features (N(0, 1) times per-column scales), 42:64 gains in [0, 1] with ~20 % -1,
    64:86 noise-band energies (unused), 86 VAD in {0, 0.5, 1}.
    """
    rng = np.random.default_rng(seed)
    data = np.empty((frames, 87), dtype=np.float32)
    scales = rng.uniform(0.3, 3.0, size=42).astype(np.float32)
    data[:, :42] = rng.standard_normal((frames, 42), dtype=np.float32) * scales
    gains = rng.random((frames, 22), dtype=np.float32)
    gains[rng.random((frames, 22)) < 0.2] = -1.0
    data[:, 42:64] = gains
    data[:, 64:86] = rng.standard_normal((frames, 22), dtype=np.float32)
    data[:, 86] = rng.choice(np.array([0.0, 0.5, 1.0], dtype=np.float32), size=frames)
    return data


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_optimizer(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - fused unsupported
        return torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)


def _step(model, opt, x, y, v) -> float:
    opt.zero_grad(set_to_none=True)
    gains, vad = model(x)
    parts = rnnoise_loss(gains, y, vad, v)
    loss = parts.total + model.regularization_loss()
    loss.backward()
    opt.step()
    model.clip_weights_(0.499)
    return float(loss.detach())


def time_epochs(
    seqs: np.ndarray | SequenceData,
    device: torch.device,
    batch: int,
    epochs: int,
    seed: int = 0,
    backend: str = "auto",
) -> tuple[float, list[float]]:
    """Train ``epochs`` epochs after one warm-up batch; return (median seconds, losses)."""
    torch.manual_seed(seed)
    model = RNNoiseNet(backend=backend).to(device)
    opt = _make_optimizer(model, device)
    rng = np.random.default_rng(seed)

    read = seqs.read if isinstance(seqs, SequenceData) else (lambda idx: seqs[np.sort(idx)])
    n = seqs.n_train if isinstance(seqs, SequenceData) else len(seqs)

    def batches(order: np.ndarray):
        # the trainer's path to the device (on CUDA: read ahead into pinned memory)
        for i in range(0, len(order), batch):
            yield read(order[i : i + batch])

    def columns(b: torch.Tensor):
        return b[..., :42], b[..., 42:64], b[..., 86:87]

    for b in device_batches(batches(np.arange(min(batch, n))), device):  # warm-up
        _step(model, opt, *columns(b))
    _sync(device)
    times, losses = [], []
    for _ in range(epochs):
        perm = rng.permutation(n)
        t0 = time.perf_counter()
        total = 0.0
        for b in device_batches(batches(perm), device):
            total += _step(model, opt, *columns(b))
        _sync(device)
        times.append(time.perf_counter() - t0)
        losses.append(total / -(-n // batch))
    return statistics.median(times), losses


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--matrix", help="read batches from this .h5/.f32 matrix (out of core)")
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cuda-gru", choices=("auto", "triton", "torch"), default="auto",
                    help="GRU recurrence on CUDA (default auto: triton when available)")
    ap.add_argument("--verbose", action="store_true", help="also print losses to stderr")
    ap.add_argument("--arch", choices=("0.1", "0.2"), default="0.1")
    ap.add_argument("--size", choices=("small", "default"), default="small",
                    help="0.2 network size (default small)")
    ap.add_argument(
        "--no-malloc-tuning", action="store_true", help="do not call keep_freed_memory()"
    )
    args = ap.parse_args(argv)
    if args.arch == "0.2":
        return bench02(args)

    if not args.no_malloc_tuning:
        keep_freed_memory()

    torch.set_num_threads(args.threads)
    if args.matrix:
        seqs = SequenceData(args.matrix, args.window)
    else:
        data = synthetic_matrix(args.frames)
        nseq = args.frames // args.window
        seqs = np.ascontiguousarray(data[: nseq * args.window].reshape(nseq, args.window, 87))
        del data

    result: dict[str, float | str] = {}
    cpu_s, cpu_losses = time_epochs(seqs, torch.device("cpu"), args.batch, args.epochs)
    result["cpu_s_per_epoch"] = round(cpu_s, 3)
    if args.device == "cuda":
        cuda_s, cuda_losses = time_epochs(
            seqs, torch.device("cuda"), args.batch, args.epochs, backend=args.cuda_gru
        )
        result["cuda_s_per_epoch"] = round(cuda_s, 3)
        result["cuda_gru"] = resolved_backend(args.cuda_gru, "cuda")
        if args.verbose:
            print("cuda losses", cuda_losses, file=sys.stderr)
    if args.verbose:
        print("cpu losses", cpu_losses, file=sys.stderr)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


def bench02(args) -> int:
    """``--arch 0.2``: epochs of the 0.2 trainer on synthetic rows, timed by the trainer."""
    import tempfile
    from pathlib import Path

    from rnnoise_kit.training.v02.layout import GAINS, ROW, VAD_COL
    from rnnoise_kit.training.v02.network import SIZES
    from rnnoise_kit.training.v02.trainer import TrainConfig02, train02

    rng = np.random.default_rng(0)
    rows = np.empty((args.frames, ROW), np.float32)
    rows[:, :GAINS.start] = rng.standard_normal((args.frames, GAINS.start), dtype=np.float32)
    gains = rng.random((args.frames, GAINS.stop - GAINS.start), dtype=np.float32)
    gains[rng.random(gains.shape) < 0.2] = -1.0
    rows[:, GAINS] = gains
    rows[:, VAD_COL] = rng.random(args.frames) < 0.6
    conv1, gru = SIZES[args.size]
    cfg = TrainConfig02(epochs=args.epochs + 1, batch_size=args.batch, window=args.window,
                        val_split=0.0, qat_share=0.0, conv1_size=conv1, gru_size=gru)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.f32"
        rows.tofile(path)
        res = train02(path, Path(tmp) / "run", config=cfg, device=args.device, progress=False,
                      threads=args.threads)
    seconds = [h["seconds"] for h in res.history[1:]]
    key = "cuda_s_per_epoch" if args.device == "cuda" else "cpu_s_per_epoch"
    result = {key: round(statistics.median(seconds), 3), "arch": "0.2", "size": args.size,
              "frames": args.frames, "batch": args.batch, "threads": args.threads,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if args.verbose:
        print("losses", [h["loss"] for h in res.history], file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
