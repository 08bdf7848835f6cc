"""A human-readable summary of a model file (``rnnoise-kit model info``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnnoise_kit.fileio import sha256_file
from rnnoise_kit.model.core import STANDARD_SIZES, RNNoiseModel
from rnnoise_kit.model.formats import detect_format, load_model
from rnnoise_kit.model.registry import model_path
from rnnoise_kit.model.v02.model import RNNoise02Model

__all__ = ["model_info", "format_info", "COMPATIBILITY", "COMPATIBILITY_V02"]

_FORMAT_NAMES = {
    "rnnn": "rnnoise-nu model file version 1 (text)",
    "c": "RNNoise v0.1 rnn_data.c source",
    "keras": "Keras 2 HDF5 (v0.1 rnn_train.py model)",
    "checkpoint": "rnnoise-kit training checkpoint (.npz, float32 weights, quantised on load)",
    "blob": "RNNoise 0.2 weight blob (rnnoise_model_from_file)",
    "c02": "RNNoise 0.2 rnnoise_data.c source",
}

COMPATIBILITY = (
    "Runs in RNNoise v0.1.x (built in from .c, or rnnoise_model_from_file for .rnnn), its "
    "forks (rnnoise-nu and others) and FFmpeg's arnndn filter (-af arnndn=m=FILE.rnnn). "
    "RNNoise 0.2 and later use a different network and weight-file format and cannot load it."
)


COMPATIBILITY_V02 = (
    "Runs in librnnoise 0.2-series builds of the same network (rnnoise_model_from_file / "
    "rnnoise_model_from_buffer for .bin, built in from rnnoise_data.c), e.g. the one inside "
    "pyrnnoise, and in rnnoise-kit. RNNoise v0.1, its forks and FFmpeg arnndn cannot load it."
)


def model_info(
    path: str | os.PathLike, model: RNNoiseModel | RNNoise02Model | None = None
) -> dict:
    """Facts about a model file: generation, format, topology, weight statistics, sha256.

    ``generation`` is ``"0.1"`` or ``"0.2"``; the other keys depend on it.

    ``path`` may also be a public model name (``std``, ``sh``, ...) when no such file
    exists: the cached copy is described, its sha256 checked first.

    Raises
    ------
    InputError
        A public model name that is not in the cache, or whose cached file was modified
        (the message says how to fetch it).
    ModelFormatError
        The file is not a valid RNNoise model.
    """
    path = model_path(path)
    fmt = detect_format(path)
    if model is None:
        model = load_model(path)
    if isinstance(model, RNNoise02Model):
        return _info_v02(path, fmt, model)
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
        "generation": "0.1",
        "description": "RNNoise v0.1",
        "path": str(path),
        "format": fmt,
        "format_name": _FORMAT_NAMES[fmt],
        "bytes": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "standard_topology": model.is_standard,
        "sizes": list(model.hidden_sizes),
        "reader_problem": model.reader_problem(),
        "compiled_problem": model.compiled_problem(),
        "parameters": int(w.size),
        "min": int(w.min()),
        "max": int(w.max()),
        "mean_abs": float(np.abs(w).mean() / 256),
        "saturated": int(np.count_nonzero((w == 127) | (w == -128))),
        "layers": layers,
        "compatibility": _compatibility(model),
    }


def _compatibility(model: RNNoiseModel) -> str:
    """Where a v0.1 model runs: :data:`COMPATIBILITY`, or less for a larger network."""
    reader, compiled = model.reader_problem(), model.compiled_problem()
    if reader is None:
        return COMPATIBILITY
    if compiled is None:
        return (f"rnnoise-kit, and a librnnoise v0.1.x build with its rnn_data.c compiled in. "
                f"Not as .rnnn: {reader}.")
    return f"rnnoise-kit only ({reader}; {compiled})."


def _info_v02(path, fmt: str, model: RNNoise02Model) -> dict:
    layers = []
    for name, lay in model.layers.items():
        quantized = lay.weights is not None
        layers.append({
            "name": name,
            "inputs": lay.nb_inputs,
            "outputs": lay.nb_outputs,
            "storage": ("int8 + float" if lay.float_weights is not None else "int8")
            if quantized else "float",
            "runs": "float" if lay.runs_float else "int8",
            "sparse": lay.is_sparse,
            "blocks": lay.n_blocks if lay.is_sparse else None,
            "block_capacity": (lay.nb_inputs // 4) * (lay.nb_outputs // 8)
            if lay.is_sparse else None,
            "parameters": lay.n_weights + lay.nb_outputs
            + (0 if lay.diag is None else int(lay.diag.size)),
        })
    return {
        "generation": "0.2",
        "description": model.description,
        "path": str(path),
        "format": fmt,
        "format_name": _FORMAT_NAMES[fmt],
        "bytes": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "variant": model.variant,
        "gru_size": model.gru_size,
        "conv1_size": model.conv1_size,
        "head_inputs": model.head_inputs,
        "precision": model.precision,
        "parameters": model.n_parameters,
        "block_density": model.block_density,
        "arrays": len(model.records),
        "layers": layers,
        "compatibility": COMPATIBILITY_V02,
    }


def _format_info_v02(info: dict) -> str:
    runs = {
        "float": "float weights (present beside int8, so librnnoise computes with them)",
        "int8": "int8 weights (no float twins: what upstream's DISABLE_DEBUG_FLOAT build runs)",
        "mixed": "float where a layer has float twins, int8 elsewhere",
    }[info["precision"]]
    lines = [
        f"file:        {info['path']}",
        f"format:      {info['format_name']}",
        f"size:        {info['bytes']} bytes",
        f"sha256:      {info['sha256']}",
        f"generation:  {info['description']}",
        f"topology:    65 features -> conv1 {info['conv1_size']} -> conv2 {info['gru_size']} -> "
        f"3 GRUs of {info['gru_size']} -> 32 gains + VAD (heads read {info['head_inputs']})",
        f"computes:    {runs}",
        f"parameters:  {info['parameters']} in {info['arrays']} arrays; sparse GRU matrices "
        f"keep {100 * info['block_density']:.1f}% of their 8x4 blocks",
        "layers:",
    ]
    for lay in info["layers"]:
        sparse = (f", sparse {lay['blocks']}/{lay['block_capacity']} blocks"
                  if lay["sparse"] else "")
        lines.append(
            f"  {lay['name']:<15} {lay['inputs']:>5} -> {lay['outputs']:<5} "
            f"{lay['storage']:<13} runs {lay['runs']:<5} {lay['parameters']:>7} params{sparse}"
        )
    lines.append(f"runs in:     {info['compatibility']}")
    return "\n".join(lines)


def format_info(info: dict) -> str:
    """Plain-text rendering of :func:`model_info`."""
    if info.get("generation") == "0.2":
        return _format_info_v02(info)
    topo = "RNNoise v0.1 (42 features -> 22 gains + VAD)"
    if not info["standard_topology"]:
        topo += f", sizes {','.join(map(str, info['sizes']))} (classic 24,24,48,96)"
    lines = [
        f"file:        {info['path']}",
        f"format:      {info['format_name']}",
        f"size:        {info['bytes']} bytes",
        f"sha256:      {info['sha256']}",
        "generation:  RNNoise v0.1",
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
