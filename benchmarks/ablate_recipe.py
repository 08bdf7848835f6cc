"""Ablation of the training recipe: seed, modern, and each change of the modern recipe alone.

Trains one run per variant on a training matrix (sequentially), then measures for each:

* the held-out loss (the matrix's validation sequences) of the float weights and of the int8
  weights the exported model has;
* PESQ-WB, SI-SDR and STOI over a test set made by ``rnnoise-kit mix`` (the metrics of
  ``compare``, :func:`rnnoise_kit.evaluation.metrics.intrusive_metrics`, without its DNSMOS and
  report, which cost minutes per model on a shared machine), for the exported int8 model and
  for the same model run with its float weights (the Python denoiser with the packed int8
  weights replaced by ``256 * float``), so that the float-vs-int8 difference is measured on one
  path.

Usage::

    python benchmarks/ablate_recipe.py --matrix RUN/features.h5 --testset TESTSET \\
        --out ablation/ --epochs 8 --batch-size 16 --window 500 [--variants seed,modern]

Prints and writes ``OUT/ablation.json`` and ``OUT/ablation.md``. A variant whose run folder
already holds ``model.pt`` is evaluated again without retraining.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from rnnoise_kit.audio.io import read_audio, to_mono
from rnnoise_kit.denoise import Denoiser
from rnnoise_kit.evaluation.metrics import intrusive_metrics
from rnnoise_kit.model.core import LAYER_NAMES, quantize
from rnnoise_kit.training.data import SequenceData
from rnnoise_kit.training.recipe import RECIPES
from rnnoise_kit.training.trainer import TrainConfig, _validate, load_torch_model, train

MODERN = RECIPES["modern"]
COSINE = {"lr": 2e-3, "schedule": "cosine", "warmup": 0.05}
"""The warm-up and cosine schedule the ablation tried (not in the default)."""
VARIANTS: dict[str, dict] = {
    "seed": {"recipe": "seed"},
    "seed+adamw": {"recipe": "seed", "optimizer": "adamw", "l2": MODERN["l2"],
                   "weight_decay": MODERN["weight_decay"]},
    "seed+schedule": {"recipe": "seed", **COSINE},
    "seed+grad_clip": {"recipe": "seed", "grad_clip": MODERN["grad_clip"]},
    "seed+qat": {"recipe": "seed", "qat_fraction": MODERN["qat_fraction"]},
    "modern-qat": {"recipe": "modern", "qat_fraction": 0.0},
    "modern+schedule-qat": {"recipe": "modern", "qat_fraction": 0.0, **COSINE},
    "modern+schedule": {"recipe": "modern", **COSINE},
    "modern": {"recipe": "modern"},
    "modern-decay": {"recipe": "modern", "weight_decay": 0.0},
    "modern@24-24-62-128": {"recipe": "modern", "sizes": (24, 24, 62, 128)},
    "modern@62-24-62-128": {"recipe": "modern", "sizes": (62, 24, 62, 128)},
}
"""Variant name -> :class:`TrainConfig` settings (``@D-V-N-G``: the modern recipe at the
largest sizes FFmpeg and librnnoise load, docs/training.md "Larger networks")."""
METRICS = ("pesq", "si_sdr", "stoi")


def float_pack(net) -> np.ndarray:
    """The network's float weights as 256 * w, packed in the order of the inference
    :class:`~rnnoise_kit.model.inference.Network` (per layer: kernel, recurrent, bias)."""
    weights = net.get_weights()
    return np.concatenate([a.reshape(-1) for name in LAYER_NAMES for a in weights[name]]
                          ).astype(np.float32) * np.float32(256)


def float_denoiser(model_file: Path, pt_file: Path) -> Denoiser:
    """A denoiser running ``model_file``'s network with the float weights of ``pt_file``."""
    dn = Denoiser(model=model_file, compensate_delay=True)
    net = dn.processor.net
    packed = float_pack(load_torch_model(pt_file, backend="torch"))
    # the int8 weights must be exactly these rounded: same layout, same model
    if not np.array_equal(quantize(packed / 256).astype(np.float32), net.weights):
        raise AssertionError(f"{pt_file} does not hold the float weights of {model_file}")
    net.weights = packed
    return dn


def score(testset: Path, denoisers: dict[str, Denoiser]) -> dict[str, dict[str, float]]:
    """Mean PESQ-WB, SI-SDR and STOI over ``testset/noisy/*.wav`` (clean references in
    ``testset/clean``) of each denoiser, and of the noisy input as ``"noisy"``."""
    rows: dict[str, list[dict]] = {"noisy": [], **{k: [] for k in denoisers}}
    for noisy_path in sorted((testset / "noisy").glob("*.wav")):
        audio, rate, _ = read_audio(noisy_path)
        noisy = to_mono(audio)
        clean = to_mono(read_audio(testset / "clean" / noisy_path.name)[0])
        rows["noisy"].append(intrusive_metrics(clean, noisy, rate))
        for label, dn in denoisers.items():
            out, _ = dn.denoise(noisy, rate)
            rows[label].append(intrusive_metrics(clean, np.clip(out, -1, 1), rate))
    return {label: {m: float(np.mean([r[m] for r in rs])) for m in METRICS}
            for label, rs in rows.items()}


def held_out_loss(run: Path, matrix: Path, cfg: TrainConfig) -> dict:
    net = load_torch_model(run / "model.pt")
    data = SequenceData(matrix, cfg.window, cfg.val_split)
    try:
        dev = torch.device("cpu")
        out = {"val_loss_float": _validate(net, data, cfg, dev)["val_loss"],
               "val_loss_int8": _validate(net, data, cfg, dev, quantise=True)["val_loss"]}
    finally:
        data.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrix", type=Path, required=True)
    ap.add_argument("--testset", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--score", default=None,
                    help="variants to score on the test set (default: all; the others get the "
                         "held-out losses only)")
    args = ap.parse_args()
    results = {}
    path = args.out / "ablation.json"
    if path.exists():
        results = json.loads(path.read_text())
    for name in args.variants.split(","):
        run = args.out / name
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, window=args.window,
                          **VARIANTS[name])
        t0 = time.perf_counter()
        if not (run / "model.pt").exists():
            train(args.matrix, run, config=cfg, progress=False, resume=True)
        train_s = time.perf_counter() - t0
        row = {"config": cfg.recipe_settings(), "train_s": train_s}
        row |= held_out_loss(run, args.matrix, cfg)
        rnnn, pt = run / "model.rnnn", run / "model.pt"
        if args.score is None or name in args.score.split(","):
            row |= score(args.testset, {"int8": Denoiser(model=rnnn, compensate_delay=True),
                                        "float": float_denoiser(rnnn, pt)})
        results[name] = row
        print(name, json.dumps(row), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
    lines = ["| variant | val loss (float) | val loss (int8) | PESQ int8 | PESQ float-int8 | "
             "SI-SDR int8 | STOI int8 | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        cells = ["-"] * 4
        if "int8" in r:
            i8, fl = r["int8"], r["float"]
            cells = [f"{i8['pesq']:.3f}", f"{fl['pesq'] - i8['pesq']:+.3f}",
                     f"{i8['si_sdr']:.2f}", f"{i8['stoi']:.3f}"]
        lines.append(f"| {name} | {r['val_loss_float']:.4f} | {r['val_loss_int8']:.4f} | "
                     + " | ".join(cells) + f" | {r['train_s']:.0f} |")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
