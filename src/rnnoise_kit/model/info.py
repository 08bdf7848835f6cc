"""A human-readable summary of a model file (``rnnoise-kit model info``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnnoise_kit.fileio import sha256_file
from rnnoise_kit.model.core import STANDARD_SIZES, RNNoiseModel
from rnnoise_kit.model.formats import detect_format, load_model

__all__ = ["model_info", "format_info", "COMPATIBILITY"]

_FORMAT_NAMES = {
    "rnnn": "rnnoise-nu model file version 1 (text)",
    "c": "RNNoise v0.1 rnn_data.c source",
    "keras": "Keras 2 HDF5 (v0.1 rnn_train.py model)",
    "checkpoint": "rnnoise-kit training checkpoint (.npz, float32 weights, quantised on load)",
}

COMPATIBILITY = (
    "Runs in RNNoise v0.1.x (built in from .c, or rnnoise_model_from_file for .rnnn), its "
    "forks (rnnoise-nu and others) and FFmpeg's arnndn filter (-af arnndn=m=FILE.rnnn). "
    "RNNoise 0.2 and later use a different network and weight-file format and cannot load it."
)


def model_info(path: str | os.PathLike, model: RNNoiseModel | None = None) -> dict:
    """Facts about a model file: format, topology, activations, weight statistics, sha256.

    Raises
    ------
    ModelFormatError
        The file is not a valid RNNoise v0.1 model.
    """
    fmt = detect_format(path)
    if model is None:
        model = load_model(path)
    if fmt == "checkpoint":  # a run folder stands for its checkpoint.npz
        from rnnoise_kit.model.checkpoint import checkpoint_file

        path = checkpoint_file(path)
    layers = []
    all_w = []
    for name, lay in model.layers():
        vals = np.concatenate([a for _, a in lay.arrays()]).astype(np.int64)
        all_w.append(vals)
        layers.append(
            {
                "name": name,
                "kind": "gru" if lay.is_gru else "dense",
                "inputs": lay.nb_inputs,
                "units": lay.nb_neurons,
                "activation": lay.activation.label,
                "parameters": int(vals.size),
                "min": int(vals.min()),
                "max": int(vals.max()),
                "mean_abs": float(np.abs(vals).mean() / 256),
                "saturated": int(np.count_nonzero((vals == 127) | (vals == -128))),
            }
        )
    w = np.concatenate(all_w)
    return {
        "path": str(path),
        "format": fmt,
        "format_name": _FORMAT_NAMES[fmt],
        "bytes": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "standard_topology": model.is_standard,
        "parameters": int(w.size),
        "min": int(w.min()),
        "max": int(w.max()),
        "mean_abs": float(np.abs(w).mean() / 256),
        "saturated": int(np.count_nonzero((w == 127) | (w == -128))),
        "layers": layers,
        "compatibility": COMPATIBILITY,
    }


def format_info(info: dict) -> str:
    """Plain-text rendering of :func:`model_info`."""
    topo = "RNNoise v0.1 (42 features -> 22 gains + VAD)"
    if not info["standard_topology"]:
        topo += ", non-standard hidden sizes"
    lines = [
        f"file:        {info['path']}",
        f"format:      {info['format_name']}",
        f"size:        {info['bytes']} bytes",
        f"sha256:      {info['sha256']}",
        f"topology:    {topo}",
        f"parameters:  {info['parameters']} int8 (weight = value/256), range "
        f"{info['min']}..{info['max']}, mean |w| {info['mean_abs']:.4f}, "
        f"{info['saturated']} at -128/127",
        "layers:",
    ]
    for lay in info["layers"]:
        std = STANDARD_SIZES[lay["name"]]
        mark = "" if (lay["inputs"], lay["units"]) == std else f" (v0.1: {std[0]}->{std[1]})"
        lines.append(
            f"  {lay['name']:<15} {lay['kind']:<5} {lay['inputs']:>3} -> {lay['units']:<3} "
            f"{lay['activation']:<8} {lay['parameters']:>6} params, range "
            f"{lay['min']}..{lay['max']}, mean |w| {lay['mean_abs']:.4f}{mark}"
        )
    lines.append(f"runs in:     {info['compatibility']}")
    return "\n".join(lines)
