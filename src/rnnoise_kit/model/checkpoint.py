"""Training checkpoints (``checkpoint.npz``), read and written without torch.

A checkpoint is a NumPy ``.npz`` archive holding

* the float32 weights in Keras layouts, one entry per array: ``<layer>/kernel``,
  ``<layer>/recurrent_kernel`` (GRUs), ``<layer>/bias`` for the six layers of
  :data:`~rnnoise_kit.model.core.LAYER_NAMES`;
* ``header.json``: a uint8 array holding a UTF-8 JSON object that describes the run
  (``format``, ``topology``, ``activations``, ``config`` (the recipe), ``versions``, ``data``
  (path, rows, sha256), ``epoch``, ``metrics`` (one entry per trained epoch)).

An RNNoise 0.2 run's checkpoint (header ``"arch": "0.2"``) holds instead ``<layer>/weights``
(input-major, n_in x n_out) and ``<layer>/bias`` for the layers of
:data:`rnnoise_kit.model.v02.model.LAYER_NAMES`, the form of
:func:`~rnnoise_kit.model.v02.model.model_from_float_layers`, which exports it.

A copy of the header is written beside it as ``checkpoint.json`` for people; readers use the
one inside the archive. :func:`load_checkpoint` turns a checkpoint into an
:class:`~rnnoise_kit.model.core.RNNoiseModel` (quantised like ``dump_rnn.py``), so a
checkpoint (the ``.npz`` file or the run folder holding it) is accepted wherever a model file
is.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnoise_kit.errors import InputError, ModelFormatError
from rnnoise_kit.fileio import atomic_paths
from rnnoise_kit.model.core import GRU_LAYERS, LAYER_NAMES, RNNoiseModel, TopologyError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "Checkpoint",
    "CheckpointMismatch",
    "DamagedTrainingState",
    "checkpoint_file",
    "is_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "rnnoise-kit checkpoint 1"
ARCH_V02 = "0.2"
"""Header ``arch`` of an RNNoise 0.2 run (absent: v0.1)."""
CHECKPOINT_NAME = "checkpoint.npz"
_HEADER_KEY = "header.json"

PathLike = str | os.PathLike


@dataclass
class Checkpoint:
    """A checkpoint's contents.

    Attributes
    ----------
    path : pathlib.Path
        The ``.npz`` file.
    header : dict
        The JSON header (see the module docstring).
    weights : dict
        ``{layer: {"kernel", ["recurrent_kernel",] "bias"}}`` float32 arrays in Keras shapes.
    """

    path: Path
    header: dict
    weights: dict[str, dict[str, np.ndarray]]

    @property
    def arch(self) -> str:
        """``"0.1"`` or ``"0.2"``: which network the weights are for."""
        return str(self.header.get("arch", "0.1"))

    @property
    def activations(self) -> list[str]:
        """The six layer activations in :data:`LAYER_NAMES` order."""
        return [self.header["activations"][n] for n in LAYER_NAMES]

    @property
    def epoch(self) -> int:
        """Number of epochs trained."""
        return int(self.header.get("epoch", 0))

    def model(self):
        """The weights quantised into an int8 :class:`RNNoiseModel` (``dump_rnn.py``), or for
        a 0.2 run the :class:`~rnnoise_kit.model.v02.RNNoise02Model` upstream's export makes
        of them (sparse int8 GRUs with their float twins)."""
        if self.arch == ARCH_V02:
            from rnnoise_kit.model.v02.model import model_from_float_layers

            return model_from_float_layers(
                {n: (w["weights"], w["bias"]) for n, w in self.weights.items()})
        try:
            return RNNoiseModel.from_float_arrays(self.weights, self.activations)
        except TopologyError as exc:
            raise ModelFormatError(self.path, exc.problem, exc.layer) from None


def checkpoint_file(path: PathLike) -> Path:
    """The ``.npz`` file of a checkpoint given as the file or the run folder holding it."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def is_checkpoint(path: PathLike) -> bool:
    """True for a run folder with a ``checkpoint.npz`` or a ``.npz`` holding a header."""
    p = Path(path)
    if p.is_dir():
        return (p / CHECKPOINT_NAME).is_file()
    if not p.is_file():
        return False
    try:
        with zipfile.ZipFile(p) as z:
            return f"{_HEADER_KEY}.npy" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _layer_keys(arch: str) -> dict[str, list[str]]:
    """Layer name -> the array keys of its checkpoint entries, for a run's network."""
    if arch == ARCH_V02:
        from rnnoise_kit.model.v02.model import LAYER_NAMES as LAYERS_02

        return {n: ["weights", "bias"] for n in LAYERS_02}
    return {n: (["kernel", "recurrent_kernel", "bias"] if n in GRU_LAYERS else ["kernel", "bias"])
            for n in LAYER_NAMES}


def checkpoint_files(
    path: PathLike,
    weights: Mapping[str, Mapping[str, np.ndarray] | Sequence[np.ndarray]],
    header: Mapping,
    sidecar: bool = True,
) -> dict[Path, bytes]:
    """The files of a checkpoint and their bytes, for a caller that writes them together
    with others (:func:`rnnoise_kit.fileio.atomic_paths`); see :func:`write_checkpoint`.

    Returns
    -------
    dict
        ``{path.npz: bytes}``, plus ``{path.json: bytes}`` with ``sidecar``.
    """
    p = checkpoint_file(path)
    head = dict(header)
    head["format"] = CHECKPOINT_FORMAT
    text = json.dumps(head, indent=1, sort_keys=True)
    arrays: dict[str, np.ndarray] = {
        _HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    }
    for name, keys in _layer_keys(str(head.get("arch", "0.1"))).items():
        w = weights[name]
        vals = [w[k] for k in keys] if isinstance(w, Mapping) else list(w)
        if len(vals) != len(keys):
            raise ValueError(f"{name}: expected {len(keys)} arrays, got {len(vals)}")
        for k, v in zip(keys, vals, strict=True):
            arrays[f"{name}/{k}"] = np.ascontiguousarray(v, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    files = {p: buf.getvalue()}
    if sidecar:
        files[p.with_suffix(".json")] = (text + "\n").encode("utf-8")
    return files


def write_checkpoint(
    path: PathLike,
    weights: Mapping[str, Mapping[str, np.ndarray] | Sequence[np.ndarray]],
    header: Mapping,
    sidecar: bool = True,
) -> Path:
    """Write a checkpoint atomically (the ``.npz`` and its ``.json`` together).

    Parameters
    ----------
    path : path-like
        The ``.npz`` file (or a folder: ``folder/checkpoint.npz``).
    weights : mapping
        Per layer either ``{"kernel", ["recurrent_kernel",] "bias"}`` or the list
        ``[kernel, (recurrent_kernel,) bias]`` of ``RNNoiseNet.get_weights()``.
    header : mapping
        JSON-serialisable run description; ``format`` is set here.
    sidecar : bool
        Also write the header as ``<name>.json`` beside it.

    Returns
    -------
    pathlib.Path
        The ``.npz`` written.
    """
    files = checkpoint_files(path, weights, header, sidecar)
    with atomic_paths(list(files)) as temps:
        for tmp, data in zip(temps, files.values(), strict=True):
            tmp.write_bytes(data)
    return next(iter(files))


def read_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint (the ``.npz`` or the run folder holding ``checkpoint.npz``).

    Raises
    ------
    InputError
        Missing file.
    ModelFormatError
        Not a readable rnnoise-kit checkpoint.
    """
    p = checkpoint_file(path)
    if not p.exists():
        raise InputError(p, "no such checkpoint (expected a checkpoint.npz or its run folder)")
    try:
        with np.load(p, allow_pickle=False) as z:
            files = set(z.files)
            if _HEADER_KEY not in files:
                raise ModelFormatError(p, "not an rnnoise-kit checkpoint (no header.json)")
            header = json.loads(bytes(z[_HEADER_KEY]).decode("utf-8"))
            if not isinstance(header, dict):
                raise ModelFormatError(p, "header is not a JSON object")
            weights: dict[str, dict[str, np.ndarray]] = {}
            for name, keys in _layer_keys(str(header.get("arch", "0.1"))).items():
                d = {}
                for k in keys:
                    if f"{name}/{k}" not in files:
                        raise ModelFormatError(p, f"missing {k}", name)
                    d[k] = np.asarray(z[f"{name}/{k}"], dtype=np.float32)
                weights[name] = d
    except (zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError) as exc:
        raise ModelFormatError(p, f"not a readable checkpoint ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise ModelFormatError(p, f"unknown checkpoint format (expected {CHECKPOINT_FORMAT!r})")
    acts = header.get("activations")
    if header.get("arch") == ARCH_V02:
        return Checkpoint(p, header, weights)
    if not isinstance(acts, dict) or any(n not in acts for n in LAYER_NAMES):
        raise ModelFormatError(p, "header lacks the six layer activations")
    return Checkpoint(p, header, weights)


def load_checkpoint(path: PathLike):
    """A checkpoint's weights as a quantised :class:`RNNoiseModel`, or an
    :class:`~rnnoise_kit.model.v02.RNNoise02Model` for a 0.2 run (no torch needed)."""
    return read_checkpoint(path).model()


class CheckpointMismatch(InputError):  # noqa: N818 - the name the API documents
    """A run folder's checkpoint belongs to different data or a different recipe."""


class DamagedTrainingState(InputError):
    """A run folder's training state (``train_state.pt``) cannot be read: the run cannot be
    resumed, only started over (or fine-tuned from its checkpoint)."""
