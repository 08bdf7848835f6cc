"""Model file readers and writers: ``.rnnn`` text, ``rnn_data.c`` C source, Keras ``.hdf5``.

* ``.rnnn``: "rnnoise-nu model file version 1" (spec 11.1), read by librnnoise v0.1.1's
  ``rnnoise_model_from_file`` and FFmpeg ``arnndn``. Written in the layout of the published
  files (header line, one ``"<in> <units> <act>"`` line per layer, one line per array), so a
  read/write round trip is byte-identical.
* ``.c`` (+ ``.h`` beside it): the v0.1 ``rnn_data.c``/``rnn_data.h`` layout, drops into the
  v0.1 build. The reader is tolerant: arrays are found by name, sizes and activations from
  the ``DenseLayer``/``GRULayer`` definitions (and the ``struct RNNModel`` when present).
* Keras 2 ``.hdf5``/``.h5`` (read only, h5py): ``model.save`` files (``model_weights/``
  and ``model_config``) and ``save_weights`` files (layer groups at the root; activations
  must then be given).
* RNNoise 0.2 models (:mod:`rnnoise_kit.model.v02`): the weight blob (``.bin``, starting with
  ``DNNw``) and ``rnnoise_data.c``/``.h`` (told from v0.1 C source by its contents).
  :func:`load_model` returns an :class:`~rnnoise_kit.model.v02.RNNoise02Model` for them.

Every problem with a file raises one :class:`~rnnoise_kit.errors.ModelFormatError` naming the
file and the place (layer, token, line).

Weights outside int8: the C reader stores ``.rnnn`` values into ``signed char`` without a
check (gcc wraps them modulo 256). rnnoise-kit rejects such files instead of loading a
different model, and rejects activation codes other than 0, 1, 2 (C reads 3..128 as tanh).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnoise_kit.dsp.constants import NB_BANDS, NB_FEATURES
from rnnoise_kit.errors import InputError, ModelFormatError
from rnnoise_kit.fileio import atomic_path, atomic_paths, check_suffix
from rnnoise_kit.model.core import (
    GRU_LAYERS,
    LAYER_NAMES,
    MAX_LAYER_SIZE,
    Activation,
    Layer,
    RNNoiseModel,
    TopologyError,
)

if TYPE_CHECKING:
    from rnnoise_kit.model.v02.model import RNNoise02Model

__all__ = [
    "RNNN_HEADER",
    "detect_format",
    "load_model",
    "save_model",
    "require_v01",
    "read_rnnn",
    "write_rnnn",
    "format_rnnn",
    "parse_rnnn",
    "read_c",
    "parse_c",
    "write_c",
    "format_c",
    "read_keras",
]

RNNN_HEADER = "rnnoise-nu model file version 1"
_HEADER_TOKENS = ("rnnoise-nu", "model", "file", "version")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_C_ACT = {
    Activation.TANH: "ACTIVATION_TANH",
    Activation.SIGMOID: "ACTIVATION_SIGMOID",
    Activation.RELU: "ACTIVATION_RELU",
}

PathLike = str | os.PathLike


# ============================================================================ helpers


def _fail(path: PathLike, problem: str, place: str | None = None) -> ModelFormatError:
    """A ModelFormatError whose message stays on one line whatever the file contained."""

    def clean(text: str) -> str:
        return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)

    return ModelFormatError(path, clean(problem), None if place is None else clean(place))


def _toint(tok: str) -> int:
    """A validated ``[+-]?[0-9]+`` token as int; absurdly long ones map to a huge value."""
    digits = tok.lstrip("+-").lstrip("0")
    neg = tok.startswith("-")
    if len(digits) > 12:
        return -(10**12) if neg else 10**12
    v = int(digits or "0")
    return -v if neg else v


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _read_bytes(path: PathLike) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a model file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def _expected_inputs(name: str, units: dict[str, int]) -> int | None:
    """nb_inputs a layer must have, given the units of the layers read before it."""
    try:
        return {
            "input_dense": lambda: NB_FEATURES,
            "vad_gru": lambda: units["input_dense"],
            "noise_gru": lambda: units["input_dense"] + units["vad_gru"] + NB_FEATURES,
            "denoise_gru": lambda: units["vad_gru"] + units["noise_gru"] + NB_FEATURES,
            "denoise_output": lambda: units["denoise_gru"],
            "vad_output": lambda: units["vad_gru"],
        }[name]()
    except KeyError:
        return None


def _expected_units(name: str) -> int | None:
    return {"denoise_output": NB_BANDS, "vad_output": 1}.get(name)


def _check_sizes(name: str, nb_in: int, nb_out: int, units: dict[str, int]) -> str | None:
    """Return a problem description or None (sizes checked as soon as a layer is read)."""
    for what, v in (("nb_inputs", nb_in), ("nb_neurons", nb_out)):
        if not 1 <= v <= MAX_LAYER_SIZE:
            return f"{what} = {v}, expected 1..{MAX_LAYER_SIZE}"
    want_in = _expected_inputs(name, units)
    if want_in is not None and nb_in != want_in:
        return f"nb_inputs = {nb_in}, expected {want_in} for the v0.1 topology"
    want_out = _expected_units(name)
    if want_out is not None and nb_out != want_out:
        return f"nb_neurons = {nb_out}, expected {want_out}"
    return None


def _array_sizes(name: str, nb_in: int, nb_out: int) -> list[tuple[str, int]]:
    if name in GRU_LAYERS:
        return [
            ("weights", 3 * nb_in * nb_out),
            ("recurrent_weights", 3 * nb_out * nb_out),
            ("bias", 3 * nb_out),
        ]
    return [("weights", nb_in * nb_out), ("bias", nb_out)]


def _make_layer(name: str, nb_in: int, nb_out: int, act: int, arrays: dict) -> Layer:
    return Layer(
        nb_inputs=nb_in,
        nb_neurons=nb_out,
        activation=Activation(act),
        input_weights=arrays["weights"],
        bias=arrays["bias"],
        recurrent_weights=arrays.get("recurrent_weights") if name in GRU_LAYERS else None,
    )


# ============================================================================ .rnnn


def parse_rnnn(data: bytes | str, path: PathLike = "<rnnn>") -> RNNoiseModel:
    """Parse the text of a ``.rnnn`` model (see :func:`read_rnnn`)."""
    if isinstance(data, bytes):
        if not data.strip():
            raise _fail(path, "empty file, not an RNNoise model")
        if data.startswith(b"DNNw") or b"\0" in data[:4096]:
            raise _fail(
                path,
                "binary data, not an 'rnnoise-nu model file version 1' text model "
                "(RNNoise 0.2 and later use another network and weight format)",
            )
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _fail(
                path, f"non-ASCII byte 0x{data[exc.start]:02x}", f"byte {exc.start}"
            ) from None
    else:
        text = data
    matches = list(re.finditer(r"\S+", text))
    toks = [m.group() for m in matches]
    pos = 0

    def place(i: int, layer: str | None = None) -> str:
        where = (
            f"token {i + 1} (line {_line_of(text, matches[i].start())})"
            if i < len(toks)
            else f"end of file after token {len(toks)}"
        )
        return f"{layer}, {where}" if layer else where

    if tuple(toks[:4]) != _HEADER_TOKENS:
        raise _fail(
            path, f"missing the header '{RNNN_HEADER}'; not an RNNoise v0.1 text model", "line 1"
        )
    if len(toks) < 5 or not _INT_RE.fullmatch(toks[4]):
        raise _fail(path, "header has no version number", place(4))
    if toks[4].lstrip("+0") != "1":
        raise _fail(path, f"version {toks[4]}, only version 1 exists", place(4))
    pos = 5

    def take_int(layer: str, what: str) -> int:
        nonlocal pos
        if pos >= len(toks):
            raise _fail(path, f"file ends before {what} (truncated)", place(pos, layer))
        tok = toks[pos]
        if not _INT_RE.fullmatch(tok):
            raise _fail(path, f"{what}: {tok[:20]!r} is not a decimal integer", place(pos, layer))
        pos += 1
        return _toint(tok)

    units: dict[str, int] = {}
    layers = {}
    for name in LAYER_NAMES:
        start = pos
        nb_in = take_int(name, "nb_inputs")
        nb_out = take_int(name, "nb_neurons")
        act = take_int(name, "activation")
        problem = _check_sizes(name, nb_in, nb_out, units)
        if problem:
            raise _fail(path, problem, place(start, name))
        if act not in (0, 1, 2):
            raise _fail(
                path,
                f"activation code {act}, expected 0 (tanh), 1 (sigmoid) or 2 (relu)",
                place(start + 2, name),
            )
        units[name] = nb_out
        arrays = {}
        for what, n in _array_sizes(name, nb_in, nb_out):
            seg = toks[pos : pos + n]
            if len(seg) < n:
                raise _fail(
                    path,
                    f"file ends in {what} after {len(seg)} of {n} values (truncated)",
                    place(len(toks), name),
                )
            for k, tok in enumerate(seg):
                if not _INT_RE.fullmatch(tok):
                    raise _fail(
                        path,
                        f"{what}[{k}]: {tok[:20]!r} is not a decimal integer",
                        place(pos + k, name),
                    )
            vals = np.array([_toint(t) for t in seg], dtype=np.int64)
            bad = np.flatnonzero((vals < -128) | (vals > 127))
            if bad.size:
                k = int(bad[0])
                raise _fail(
                    path,
                    f"{what}[{k}] = {seg[k][:20]} is outside -128..127 (librnnoise would "
                    "wrap it modulo 256; rnnoise-kit rejects it)",
                    place(pos + k, name),
                )
            arrays[what] = vals.astype(np.int8)
            pos += n
        layers[name] = _make_layer(name, nb_in, nb_out, act, arrays)
    if pos < len(toks):
        raise _fail(path, f"unexpected data after the last layer: {toks[pos][:20]!r}", place(pos))
    try:
        return RNNoiseModel(**layers)
    except TopologyError as exc:  # pragma: no cover - sizes were checked layer by layer
        raise _fail(path, exc.problem, exc.layer) from None


def read_rnnn(path: PathLike) -> RNNoiseModel:
    """Read an "rnnoise-nu model file version 1" text model.

    Parameters
    ----------
    path : path-like
        The ``.rnnn`` file.

    Raises
    ------
    ModelFormatError
        Bad header, truncated or garbled data, sizes that do not fit the v0.1 network,
        activation codes other than 0/1/2, weights outside -128..127, trailing data.
    """
    return parse_rnnn(_read_bytes(path), path)


def format_rnnn(model: RNNoiseModel) -> str:
    """The ``.rnnn`` text of a model (layout of the published files)."""
    lines = [RNNN_HEADER]
    for _, lay in model.layers():
        lines.append(f"{lay.nb_inputs} {lay.nb_neurons} {int(lay.activation)}")
        for _, arr in lay.arrays():
            lines.append(" ".join(map(str, arr.tolist())))
    return "\n".join(lines) + "\n"


def write_rnnn(model: RNNoiseModel, path: PathLike, inputs: Iterable[PathLike] = ()) -> None:
    """Write a model as ``.rnnn`` text (atomically); ``inputs`` may not be replaced."""
    with atomic_path(path, inputs=inputs) as tmp:
        tmp.write_text(format_rnnn(model), encoding="utf-8")


# ============================================================================ .c / .h


def _c_ident(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", path.name).upper()


def format_c(model: RNNoiseModel, header_name: str = "rnn_data.h", name: str = "orig") -> str:
    """The ``rnn_data.c`` source of a model; it includes ``header_name``.

    The model is exported as ``const struct RNNModel rnnoise_model_<name>`` (``orig`` is what
    librnnoise v0.1.1 uses as its built-in model).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"model name {name!r} is not a C identifier")
    out = [
        "/* RNNoise v0.1 model weights (int8, real weight = value / 256),",
        "   written by rnnoise-kit in the layout of rnn_data.c. */",
        "",
        "#ifdef HAVE_CONFIG_H",
        '#include "config.h"',
        "#endif",
        "",
        '#include "rnn.h"',
        f'#include "{header_name}"',
        "",
    ]
    for lname, lay in model.layers():
        for what, arr in lay.arrays():
            out.append(f"static const rnn_weight {lname}_{what}[{arr.size}] = {{")
            vals = arr.tolist()
            for k in range(0, len(vals), 16):
                out.append("   " + ", ".join(str(v) for v in vals[k : k + 16]) + ",")
            out.append("};")
            out.append("")
        kind = "GRULayer" if lay.is_gru else "DenseLayer"
        out.append(f"static const {kind} {lname} = {{")
        out.append(f"   {lname}_bias,")
        out.append(f"   {lname}_weights,")
        if lay.is_gru:
            out.append(f"   {lname}_recurrent_weights,")
        out.append(f"   {lay.nb_inputs}, {lay.nb_neurons}, {_C_ACT[lay.activation]}")
        out.append("};")
        out.append("")
    out.append(f"const struct RNNModel rnnoise_model_{name} = {{")
    items = [f"   {lay.nb_neurons},\n   &{lname}" for lname, lay in model.layers()]
    out.append(",\n\n".join(items))
    out.append("};")
    return "\n".join(out) + "\n"


def format_h(header_name: str = "rnn_data.h", name: str = "orig") -> str:
    """The header declaring ``struct RNNModel`` and ``struct RNNState`` (v0.1 layout)."""
    guard = re.sub(r"[^A-Za-z0-9]", "_", header_name).upper()
    out = [
        "/* RNNoise v0.1 model structures, written by rnnoise-kit. */",
        "",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        '#include "rnn.h"',
        "",
        "struct RNNModel {",
    ]
    for lname in LAYER_NAMES:
        kind = "GRULayer" if lname in GRU_LAYERS else "DenseLayer"
        out.append(f"  int {lname}_size;")
        out.append(f"  const {kind} *{lname};")
        out.append("")
    out[-1] = "};"
    out += [
        "",
        "struct RNNState {",
        "  const struct RNNModel *model;",
        "  float *vad_gru_state;",
        "  float *noise_gru_state;",
        "  float *denoise_gru_state;",
        "};",
        "",
        f"extern const struct RNNModel rnnoise_model_{name};",
        "",
        "#endif",
    ]
    return "\n".join(out) + "\n"


def write_c(model: RNNoiseModel, path: PathLike, name: str = "orig",
            inputs: Iterable[PathLike] = ()) -> Path:
    """Write ``path`` (``.c``) and the header beside it (same stem, ``.h``), together.

    ``inputs``: files the model was read from, which neither output may replace.

    Returns
    -------
    pathlib.Path
        The header's path.
    """
    return _write_c_pair(
        path, inputs, lambda h: format_c(model, h, name), lambda h: format_h(h, name)
    )


def _write_c_pair(path: PathLike, inputs: Iterable[PathLike],
                  c_text: Callable[[str], str], h_text: Callable[[str], str]) -> Path:
    """Write ``path`` (``.c``) and its header (same stem, ``.h``) of either generation, both or
    neither (a .h without its .c, after a full disk between the two, is no model).
    ``c_text``/``h_text`` make each file's text from the header's file name. Returns the
    header's path."""
    path = Path(path)
    header = path.with_suffix(".h")
    with atomic_paths([path, header], inputs) as (c_tmp, h_tmp):
        h_tmp.write_text(h_text(header.name), encoding="utf-8")
        c_tmp.write_text(c_text(header.name), encoding="utf-8")
    return header


def _strip_c_comments(text: str) -> str:
    """Blank out comments and string literals, keeping newlines (for line numbers)."""

    def blank(m: re.Match) -> str:
        s = m.group()
        if s.startswith('"') or s.startswith("'"):
            return s if "\n" not in s else re.sub(r"[^\n]", " ", s)
        return re.sub(r"[^\n]", " ", s)

    return re.sub(
        r'/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
        blank,
        text,
        flags=re.S,
    )


def _c_source_code(data: bytes | str, path: PathLike) -> str:
    """Model C source (either generation) as text, comments and strings blanked
    (:func:`_strip_c_comments`); a ModelFormatError for an empty or a binary file."""
    if isinstance(data, bytes):
        if not data.strip():
            raise _fail(path, "empty file, not RNNoise model C source")
        if b"\0" in data:
            raise _fail(path, "binary data, not C source")
        data = data.decode("utf-8", errors="replace")
    return _strip_c_comments(data)


_ARRAY_RE = re.compile(
    r"(?P<type>(?:\w+\s+)*?\w+)\s*(?P<ptr>\*?)\s*(?P<name>[A-Za-z_]\w*)\s*"
    r"\[\s*(?P<size>[^\]]*)\]\s*=\s*\{(?P<body>[^{}]*)\}\s*;"
)
_LAYER_RE = re.compile(
    r"(?P<kind>DenseLayer|GRULayer)\s+(?P<name>[A-Za-z_]\w*)\s*=\s*\{(?P<body>[^{}]*)\}\s*;"
)
_MODEL_RE = re.compile(r"struct\s+RNNModel\s+(?P<name>[A-Za-z_]\w*)\s*=\s*\{(?P<body>[^{}]*)\}\s*;")
_C_INT_RE = re.compile(r"\(?\s*[+-]?\s*[0-9]+\s*\)?")


def parse_c(data: bytes | str, path: PathLike = "<c>") -> RNNoiseModel:
    """Parse ``rnn_data.c``-style C source (see :func:`read_c`)."""
    code = _c_source_code(data, path)

    def line(pos: int) -> str:
        return f"line {_line_of(code, pos)}"

    arrays = {m.group("name"): m for m in _ARRAY_RE.finditer(code)}
    structs = {m.group("name"): m for m in _LAYER_RE.finditer(code)}

    # Which struct is which layer: the RNNModel initialiser when present, else by name.
    names = {n: n for n in LAYER_NAMES}
    model_sizes: dict[str, tuple[int, int]] = {}
    mm = _MODEL_RE.search(code)
    if mm:
        refs = re.findall(r"([+-]?\d+)\s*,\s*&?\s*([A-Za-z_]\w*)", mm.group("body"))
        if len(refs) == len(LAYER_NAMES):
            for (size, ref), lname in zip(refs, LAYER_NAMES, strict=True):
                names[lname] = ref
                model_sizes[lname] = (_toint(size), mm.start())
    if not structs:
        if re.search(r"\bfloat\b|\bopus_int8\b|WeightArray|LinearLayer", code):
            raise _fail(
                path,
                "no DenseLayer/GRULayer definitions; this looks like RNNoise 0.2+ or another "
                "network, which v0.1 cannot use",
            )
        raise _fail(path, "no DenseLayer/GRULayer definitions: not rnn_data.c")

    units: dict[str, int] = {}
    layers = {}
    for lname in LAYER_NAMES:
        sname = names[lname]
        sm = structs.get(sname)
        if sm is None:
            raise _fail(path, f"layer definition '{sname}' not found", lname)
        want_kind = "GRULayer" if lname in GRU_LAYERS else "DenseLayer"
        where = f"{lname}, {line(sm.start())}"
        if sm.group("kind") != want_kind:
            raise _fail(path, f"is a {sm.group('kind')}, expected {want_kind}", where)
        fields = [f.strip() for f in sm.group("body").split(",")]
        if fields and fields[-1] == "":
            fields.pop()
        n_refs = 3 if lname in GRU_LAYERS else 2
        if len(fields) != n_refs + 3:
            raise _fail(
                path, f"{len(fields)} fields in the initialiser, expected {n_refs + 3}", where
            )
        refs = [f.lstrip("&").strip() for f in fields[:n_refs]]
        try:
            nb_in, nb_out = (int(f.strip("() ").replace(" ", "")) for f in fields[n_refs:-1])
        except ValueError:
            raise _fail(path, "nb_inputs/nb_neurons are not integers", where) from None
        act_tok = fields[-1]
        act_map = {v: k for k, v in _C_ACT.items()}
        if act_tok in act_map:
            act = int(act_map[act_tok])
        elif act_tok in ("0", "1", "2"):
            act = int(act_tok)
        else:
            raise _fail(
                path, f"activation {act_tok[:30]!r}, expected ACTIVATION_TANH/SIGMOID/RELU", where
            )
        problem = _check_sizes(lname, nb_in, nb_out, units)
        if problem:
            raise _fail(path, problem, where)
        if lname in model_sizes and model_sizes[lname][0] != nb_out:
            raise _fail(
                path,
                f"struct RNNModel gives size {model_sizes[lname][0]}, the layer has {nb_out}",
                f"{lname}, {line(model_sizes[lname][1])}",
            )
        units[lname] = nb_out
        roles = ["bias", "weights", "recurrent_weights"][:n_refs]
        sizes = dict(_array_sizes(lname, nb_in, nb_out))
        vals = {}
        for role, ref in zip(roles, refs, strict=True):
            am = arrays.get(ref)
            if am is None:
                raise _fail(path, f"{role} array '{ref[:40]}' not found", where)
            awhere = f"{lname}, {line(am.start())}"
            if "float" in am.group("type") or "double" in am.group("type"):
                raise _fail(path, f"array '{ref}' holds floats; v0.1 models are int8", awhere)
            items = [t.strip() for t in am.group("body").split(",")]
            if items and items[-1] == "":
                items.pop()
            for k, t in enumerate(items):
                if not _C_INT_RE.fullmatch(t):
                    pos = am.start("body") + am.group("body").find(t) if t else am.start()
                    raise _fail(
                        path,
                        f"{role}[{k}] of '{ref}': {t[:20]!r} is not an integer",
                        f"{lname}, {line(pos)}",
                    )
            nums = [t.replace("(", "").replace(")", "").replace(" ", "") for t in items]
            arr = np.array([_toint(t) for t in nums], dtype=np.int64)
            declared = am.group("size").strip()
            if declared:
                if not re.fullmatch(r"[0-9]{1,9}", declared) or int(declared) != arr.size:
                    raise _fail(
                        path,
                        f"'{ref}' declared [{declared[:20]}] but has {arr.size} values",
                        awhere,
                    )
            if arr.size != sizes[role]:
                raise _fail(
                    path,
                    f"{role} '{ref}' has {arr.size} values, expected {sizes[role]}",
                    awhere,
                )
            bad = np.flatnonzero((arr < -128) | (arr > 127))
            if bad.size:
                raise _fail(path, f"{role}[{int(bad[0])}] of '{ref}' is outside -128..127", awhere)
            vals[role] = arr.astype(np.int8)
        layers[lname] = _make_layer(lname, nb_in, nb_out, act, vals)
    try:
        return RNNoiseModel(**layers)
    except TopologyError as exc:  # pragma: no cover - checked above
        raise _fail(path, exc.problem, exc.layer) from None


def read_c(path: PathLike) -> RNNoiseModel:
    """Read a model from ``rnn_data.c``-style C source (v0.1 and forks).

    Arrays are found by name; the ``DenseLayer``/``GRULayer`` initialisers give the array
    names, sizes and activations, and ``struct RNNModel``'s initialiser (when present) which
    definition is which layer. Comments are ignored.

    Raises
    ------
    ModelFormatError
        Missing or malformed definitions, wrong sizes, non-integer or out-of-range values.
    """
    return parse_c(_read_bytes(path), path)


# ============================================================================ Keras


_KERAS_ACT = {"tanh": Activation.TANH, "sigmoid": Activation.SIGMOID, "relu": Activation.RELU}


def _keras_config_layers(config: dict) -> dict[str, dict]:
    cfg = config.get("config", config)
    layers = cfg.get("layers", []) if isinstance(cfg, dict) else cfg
    out = {}
    for lay in layers if isinstance(layers, list) else []:
        if isinstance(lay, dict):
            name = lay.get("name") or lay.get("config", {}).get("name")
            out[name] = lay
    return out


def read_keras(
    path: PathLike,
    activations: Mapping[str, Activation | int | str] | Sequence | None = None,
) -> RNNoiseModel:
    """Read a Keras 2 HDF5 file of the v0.1 ``rnn_train.py`` model (h5py only).

    Weights come from ``model_weights/<layer>/`` (``model.save``) or from root layer groups
    (``save_weights``); per-layer activations from the ``model_config`` JSON attribute.
    Quantisation is that of ``dump_rnn.py`` under Python 2
    (:func:`~rnnoise_kit.model.core.quantize`).

    Parameters
    ----------
    path : path-like
        ``.hdf5`` / ``.h5`` file.
    activations : mapping or sequence, optional
        Override (or supply, for weights-only files) the six activations.

    Raises
    ------
    ModelFormatError
        Not HDF5, missing layers or weights, GRUs with ``reset_after=True`` or a recurrent
        activation other than sigmoid, unknown activations, weights below -0.5.
    """
    import h5py

    if not Path(path).is_file():
        _read_bytes(path)  # raises the right InputError
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise _fail(path, f"not a readable HDF5 file ({exc})") from None
    try:
        with f:
            return _read_keras_open(f, path, activations)
    except ModelFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise _fail(path, f"unreadable Keras data ({type(exc).__name__}: {exc})") from None


def _read_keras_open(f, path: PathLike, activations) -> RNNoiseModel:
    import h5py

    config_layers: dict[str, dict] = {}
    raw = f.attrs.get("model_config")
    if raw is not None:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        try:
            config_layers = _keras_config_layers(json.loads(str(raw)))
        except (json.JSONDecodeError, AttributeError, TypeError):
            raise _fail(path, "model_config attribute is not valid JSON") from None
    root = f["model_weights"] if "model_weights" in f else f
    if isinstance(activations, Mapping):
        override = dict(activations)
    elif activations is not None:
        seq = list(activations)
        if len(seq) != len(LAYER_NAMES):
            raise _fail(path, f"{len(seq)} activations given, expected 6")
        override = dict(zip(LAYER_NAMES, seq, strict=True))
    else:
        override = {}

    arrays: dict[str, dict[str, np.ndarray]] = {}
    acts: dict[str, Activation] = {}
    for lname in LAYER_NAMES:
        if lname not in root or not isinstance(root[lname], h5py.Group):
            raise _fail(path, "layer group not found in the HDF5 file", lname)
        grp = root[lname]
        names = [
            n.decode(errors="replace") if isinstance(n, bytes) else str(n)
            for n in grp.attrs.get("weight_names", [])
        ]
        datasets: dict[str, np.ndarray] = {}
        found: list[tuple[str, h5py.Dataset]] = []
        if names:
            for n in names:
                if n not in grp:
                    raise _fail(path, f"weight '{n}' listed but missing", lname)
                found.append((n, grp[n]))
        else:

            def _collect(n, o, found=found):
                if isinstance(o, h5py.Dataset):
                    found.append((n, o))

            grp.visititems(_collect)
        for n, ds in found:
            leaf = n.rsplit("/", 1)[-1].split(":")[0]
            if leaf in ("kernel", "recurrent_kernel", "bias"):
                datasets[leaf] = np.asarray(ds[()], dtype=np.float32)
        arrays[lname] = datasets
        gru = lname in GRU_LAYERS
        if gru and "bias" in datasets and datasets["bias"].ndim == 2:
            raise _fail(
                path,
                "GRU with reset_after=True (2-row bias, tf.keras 2 default) computes another "
                "function; RNNoise v0.1 needs reset_after=False",
                lname,
            )
        cfg = config_layers.get(lname, {}).get("config", {})
        if gru and cfg:
            if cfg.get("reset_after"):
                raise _fail(
                    path, "reset_after=True GRU; RNNoise v0.1 needs reset_after=False", lname
                )
            ract = cfg.get("recurrent_activation", "sigmoid")
            if ract != "sigmoid":
                raise _fail(
                    path,
                    f"recurrent_activation '{ract}', RNNoise v0.1 gates always use sigmoid",
                    lname,
                )
            if cfg.get("use_bias") is False:
                raise _fail(path, "use_bias=False is not supported", lname)
        if lname in override:
            try:
                acts[lname] = Activation.parse(override[lname])
            except ValueError as exc:
                raise _fail(path, str(exc), lname) from None
        elif cfg:
            a = cfg.get("activation")
            if a not in _KERAS_ACT:
                raise _fail(
                    path, f"activation {a!r}; RNNoise v0.1 has tanh, sigmoid and relu", lname
                )
            acts[lname] = _KERAS_ACT[a]
        else:
            raise _fail(
                path,
                "no model_config for this layer (weights-only file?): give the activations",
                lname,
            )
    try:
        return RNNoiseModel.from_float_arrays(arrays, acts)
    except TopologyError as exc:
        raise _fail(path, exc.problem, exc.layer) from None


# ============================================================================ dispatch

_EXT = {
    ".rnnn": "rnnn",
    ".txt": "rnnn",
    ".c": "c",
    ".hdf5": "keras",
    ".h5": "keras",
    ".bin": "blob",
}
_SNIFF_C = 1 << 20
"""Bytes of a ``.c`` file searched for RNNoise 0.2 markers (they come before the first array)."""


def detect_format(path: PathLike, sniff: bool = True) -> str:
    """The format of a model file, from its extension and, where that is not enough, its bytes.

    ``"rnnn"``, ``"c"`` (v0.1 ``rnn_data.c``), ``"keras"``, ``"checkpoint"`` (a training
    ``checkpoint.npz`` or its run folder), ``"blob"`` (RNNoise 0.2 weight blob) or ``"c02"``
    (RNNoise 0.2 ``rnnoise_data.c``). With ``sniff=False`` a ``.c`` file counts as v0.1.
    """
    if (Path(path) / "checkpoint.npz").is_file() or Path(path).suffix.lower() == ".npz":
        return "checkpoint"
    ext = Path(path).suffix.lower()
    if ext in _EXT and not (sniff and ext == ".bin"):  # .bin: only blobs, told by their magic
        if ext == ".c" and sniff:
            from rnnoise_kit.model.v02.files import is_c02_source

            return "c02" if is_c02_source(_read_head(path, _SNIFF_C)) else "c"
        return _EXT[ext]
    if sniff:
        head = _read_head(path, _SNIFF_C)
        if head.startswith(b"\x89HDF"):
            return "keras"
        if head.startswith(b"PK\x03\x04"):
            return "checkpoint"
        if head.startswith(b"DNNw"):
            return "blob"
        if head.lstrip().startswith(b"rnnoise-nu"):
            return "rnnn"
        from rnnoise_kit.model.v02.files import is_c02_source

        if b"#include" in head[:4096] and is_c02_source(head):
            return "c02"
        if b"rnn_weight" in head[:4096] or b"RNNModel" in head[:4096] or b"#include" in head[:4096]:
            return "c"
    raise _fail(
        path, "unknown model format (expected .rnnn, .c, Keras .hdf5/.h5, a checkpoint .npz "
              "or an RNNoise 0.2 weight blob .bin)"
    )


def _read_head(path: PathLike, size: int) -> bytes:
    if not Path(path).is_file():
        _read_bytes(path)  # raises the right InputError
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def load_model(
    path: PathLike, activations: Mapping | Sequence | None = None
) -> RNNoiseModel | RNNoise02Model:
    """Load a model, picking the reader by extension and contents.

    v0.1: ``.rnnn``, ``rnn_data.c``, Keras ``.hdf5``/``.h5``, training checkpoints (an
    :class:`RNNoiseModel`). RNNoise 0.2: weight blobs (``.bin``) and ``rnnoise_data.c`` (an
    :class:`~rnnoise_kit.model.v02.RNNoise02Model`; its ``generation`` is ``"0.2"``).

    Parameters
    ----------
    path : path-like
        The model file.
    activations : optional
        Keras files only: override/supply the six activations.

    Raises
    ------
    InputError
        The file is missing or unreadable.
    ModelFormatError
        The file is not a valid RNNoise model.
    """
    fmt = detect_format(path)
    if activations is not None and fmt != "keras":
        raise _fail(path, "activations can only be given for Keras files")
    if fmt == "keras":
        return read_keras(path, activations)
    if fmt == "checkpoint":
        from rnnoise_kit.model.checkpoint import load_checkpoint

        return load_checkpoint(path)
    if fmt in ("blob", "c02"):
        from rnnoise_kit.model.v02.files import read_blob, read_c02

        return read_blob(path) if fmt == "blob" else read_c02(path)
    return read_rnnn(path) if fmt == "rnnn" else read_c(path)


def require_v01(model: RNNoiseModel | RNNoise02Model, path: PathLike | None) -> RNNoiseModel:
    """``model`` itself when it is an RNNoise v0.1 model; a one-line error otherwise."""
    if isinstance(model, RNNoiseModel):
        return model
    raise ModelFormatError(path, f"is an {model.description} model; only RNNoise v0.1 "
                                 "models can be used here")


def save_model(
    model: RNNoiseModel | RNNoise02Model, path: PathLike, name: str = "orig",
    inputs: Iterable[PathLike] = (),
) -> list[Path]:
    """Write a model in the format its output name asks for.

    v0.1 models: ``.rnnn`` or ``.c`` (+ ``.h``; ``name`` gives the ``rnnoise_model_<name>``
    symbol). RNNoise 0.2 models: ``.bin`` (weight blob) or ``.c`` (+ ``.h``, the
    ``rnnoise_data.c`` layout; ``name`` is not used).

    Parameters
    ----------
    inputs : iterable of path-like
        Files the model was read from: an output that would replace one is refused
        (:class:`~rnnoise_kit.errors.OutputError`).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ModelFormatError
        The output format cannot hold this generation of model (0.2 as ``.rnnn``, v0.1 as
        ``.bin``), or a v0.1 model too large for a librnnoise build as ``.c``
        (:meth:`~rnnoise_kit.model.core.RNNoiseModel.compiled_problem`).
    OutputError
        An unknown extension, an output that is one of ``inputs``, or a failed write.
    """
    ext = Path(path).suffix.lower()
    if getattr(model, "generation", "0.1") == "0.2":
        from rnnoise_kit.model.v02.files import write_blob, write_c02

        if ext in (".rnnn", ".txt"):
            raise _fail(path, "an RNNoise 0.2 model cannot be written as .rnnn (a v0.1 format "
                              "that holds only the v0.1 network); use .bin or .c")
        check_suffix(path, (".bin", ".c"), "an RNNoise 0.2 model")
        if ext == ".bin":
            write_blob(model, path, inputs)
            return [Path(path)]
        return [Path(path), write_c02(model, path, inputs)]
    if ext == ".bin":
        raise _fail(path, "an RNNoise v0.1 model cannot be written as an RNNoise 0.2 weight "
                          "blob (another network); use .rnnn or .c")
    check_suffix(path, (".rnnn", ".c", ".txt"), "an RNNoise v0.1 model")
    if ext == ".c":
        # a build would overflow its fixed buffers: no file rather than a crashing build
        # (a .rnnn over the readers' limits is still written: rnnoise-kit runs it)
        problem = model.compiled_problem()
        if problem:
            raise _fail(path, f"cannot be written as rnn_data.c: {problem}; write .rnnn "
                              "(rnnoise-kit runs it)")
        header = write_c(model, path, name, inputs)
        return [Path(path), header]
    write_rnnn(model, path, inputs)
    return [Path(path)]
