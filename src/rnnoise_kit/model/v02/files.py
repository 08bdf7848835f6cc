"""RNNoise 0.2 model files: the weight blob (``.bin``) and ``rnnoise_data.c`` / ``.h``.

* ``.bin``: the records of :mod:`rnnoise_kit.model.v02.blob`, what
  ``rnnoise_model_from_file`` / ``rnnoise_model_from_buffer`` load.
* ``.c`` + ``.h``: the layout upstream's weight-exchange export (``dump_rnnoise_weights.py``)
  generates: every array under ``#ifndef USE_WEIGHTS_FILE`` with its ``WEIGHTS_<name>_DEFINED``
  / ``_TYPE`` macros (float twins of int8 arrays also under ``#ifndef DISABLE_DEBUG_FLOAT``),
  the ``rnnoise_arrays[]`` table of ``{name, type, size, data}`` and ``init_rnnoise()``
  calling ``linear_init`` per layer; the header has the size macros, the ``RNNoise`` struct
  and ``init_rnnoise``'s prototype. Dropped into an RNNoise 0.2 tree (``src/rnnoise_data.c``
  and ``.h``) it is the built-in model; upstream's ``dump_weights_blob`` turns it into the
  blob this module writes.

The C reader is tolerant: arrays are found by name wherever they are, the record order and
types come from the ``rnnoise_arrays[]`` table when there is one (else definition order and
the C types), comments and layout are ignored. The writer is deterministic, and
blob -> ``.c`` -> blob gives the same bytes: floats are written with 9 significant digits,
which a C compiler reads back to the same float32 (through double, as C converts
``float x = 0.1``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.fileio import atomic_path
from rnnoise_kit.model.formats import _c_source_code, _read_bytes, _write_c_pair
from rnnoise_kit.model.v02.blob import BLOB_MAGIC, WeightRecord, WeightType, format_blob, parse_blob
from rnnoise_kit.model.v02.model import (
    CONV_KERNEL,
    GAIN_SIZE,
    GRU_NAMES,
    INPUT_SIZE,
    LAYER_SPECS,
    RNNoise02Model,
)

__all__ = [
    "read_blob",
    "write_blob",
    "parse_c02",
    "read_c02",
    "format_c02",
    "format_h02",
    "write_c02",
    "is_c02_source",
]

PathLike = str | os.PathLike

_C_TYPE = {WeightType.FLOAT: "float", WeightType.INT8: "opus_int8", WeightType.INT: "int"}
_TYPE_SUFFIX = {WeightType.FLOAT: "float", WeightType.INT8: "int8", WeightType.INT: "int",
                WeightType.QWEIGHT: "qweight"}
_C_TYPE_OF = {
    "float": WeightType.FLOAT,
    "opus_int8": WeightType.INT8,
    "int8_t": WeightType.INT8,
    "signed char": WeightType.INT8,
    "int": WeightType.INT,
    "opus_int32": WeightType.INT,
    "int32_t": WeightType.INT,
}
_MACRO_TYPE = {f"WEIGHT_TYPE_{v}": k for k, v in _TYPE_SUFFIX.items()}
_INT_RANGE = {WeightType.INT8: (-128, 127), WeightType.INT: (-(2**31), 2**31 - 1)}


# ============================================================================ blob


def read_blob(path: PathLike) -> RNNoise02Model:
    """Read an RNNoise 0.2 weight blob (``rnnoise_model_from_file``'s format).

    Raises
    ------
    InputError
        The file is missing or unreadable.
    ModelFormatError
        Malformed records, or arrays that do not form an RNNoise 0.2 model (one line naming
        the file and the array).
    """
    data = _read_bytes(path)
    if not data.startswith(BLOB_MAGIC):
        raise ModelFormatError(
            path, "not an RNNoise 0.2 weight blob (it does not start with 'DNNw')")
    return RNNoise02Model.from_records(parse_blob(data, path), path)


def write_blob(model: RNNoise02Model, path: PathLike, inputs: Iterable[PathLike] = ()) -> None:
    """Write a model as a weight blob (atomically); ``inputs`` may not be replaced."""
    with atomic_path(path, inputs=inputs) as tmp:
        tmp.write_bytes(format_blob(list(model.records)))


# ============================================================================ .c writer


def _c_numbers(rec: WeightRecord) -> list[str]:
    """Each value as C source text that compiles back to the same bits."""
    if rec.type != WeightType.FLOAT:
        return [str(v) for v in rec.data.tolist()]
    data = np.ascontiguousarray(rec.data, dtype=np.float32)
    # 9 significant digits identify a float32, also read the way C reads a literal (as a
    # double, then rounded to float: the decimal is far closer to the float than to the
    # midpoint of two floats). Checked anyway, falling back to the exact double.
    text = [f"{v:.9g}" for v in data.tolist()]
    back = np.array(list(map(float, text)), dtype=np.float64).astype(np.float32)
    for i in np.flatnonzero(back.view(np.uint32) != data.view(np.uint32)).tolist():
        text[i] = repr(float(data[i]))
    return text


def _float_twins(model: RNNoise02Model) -> set[str]:
    return {s.array_names()["float_weights"] for s in LAYER_SPECS if s.quantized}


def _guard(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]", "_", Path(name).stem).upper()
    return f"{stem}_H"


def format_h02(model: RNNoise02Model, header_name: str = "rnnoise_data.h") -> str:
    """The ``rnnoise_data.h`` of a model: size macros, ``RNNoise`` struct, init prototype."""
    guard = _guard(header_name)
    c1, g = model.conv1_size, model.gru_size
    out = ["", f"#ifndef {guard}", f"#define {guard}", "", '#include "nnet.h"', ""]

    def define(name: str, value) -> None:
        out.extend(["", f"#define {name} {value}"])

    for name, n_in, n_out in (("CONV1", INPUT_SIZE, c1), ("CONV2", c1, g)):
        define(f"{name}_OUT_SIZE", n_out)
        define(f"{name}_IN_SIZE", n_in)
        define(f"{name}_STATE_SIZE", f"({n_in} * ({CONV_KERNEL - 1}))")
        define(f"{name}_DELAY", (CONV_KERNEL - 1) // 2)
    for gru in GRU_NAMES:
        define(f"{gru.upper()}_OUT_SIZE", g)
        define(f"{gru.upper()}_STATE_SIZE", g)
    define("DENSE_OUT_OUT_SIZE", GAIN_SIZE)
    define("VAD_DENSE_OUT_SIZE", 1)
    out.append("")
    out.append("typedef struct {")
    out.extend(f"    LinearLayer {s.name};" for s in LAYER_SPECS)
    out.append("} RNNoise;")
    out.append("")
    out.append("int init_rnnoise(RNNoise *model, const WeightArray *arrays);")
    out.append("")
    out.append(f"#endif /* {guard} */")
    return "\n".join(out) + "\n"


def format_c02(model: RNNoise02Model, header_name: str = "rnnoise_data.h") -> str:
    """The ``rnnoise_data.c`` of a model (it includes ``header_name``)."""
    twins = _float_twins(model)
    out = ["", "#ifdef HAVE_CONFIG_H", '#include "config.h"', "#endif", "",
           f'#include "{header_name}"', ""]
    for rec in model.records:
        debug_float = rec.name in twins
        out += ["", "#ifndef USE_WEIGHTS_FILE"]
        if debug_float:
            out.append("#ifndef DISABLE_DEBUG_FLOAT")
        out += ["", f"#define WEIGHTS_{rec.name}_DEFINED",
                f"#define WEIGHTS_{rec.name}_TYPE WEIGHT_TYPE_{_TYPE_SUFFIX[rec.type]}"]
        nums = _c_numbers(rec)
        lines = [", ".join(nums[k: k + 8]) for k in range(0, len(nums), 8)]
        out.append(f"static const {_C_TYPE[rec.type]} {rec.name}[{len(nums)}] = {{")
        out.append("    " + ",\n    ".join(lines))
        out += ["};", ""]
        if debug_float:
            out.append("#endif /*DISABLE_DEBUG_FLOAT*/")
        out += ["", "#endif /* USE_WEIGHTS_FILE */"]
    out += ["", "#ifndef USE_WEIGHTS_FILE", "const WeightArray rnnoise_arrays[] = {"]
    for rec in model.records:
        n = rec.name
        out += [f"#ifdef WEIGHTS_{n}_DEFINED",
                f'    {{"{n}",  WEIGHTS_{n}_TYPE, sizeof({n}), {n}}},', "#endif"]
    out += ["    {NULL, 0, 0, NULL}", "};", "#endif /* USE_WEIGHTS_FILE */", ""]
    out += ["#ifndef DUMP_BINARY_WEIGHTS",
            "int init_rnnoise(RNNoise *model, const WeightArray *arrays) {"]
    for spec in LAYER_SPECS:
        lay = model.layers[spec.name]
        names = spec.array_names()

        def q(role: str, names=names) -> str:
            return f'"{names[role]}"' if role in names else "NULL"

        out.append(
            f"    if (linear_init(&model->{spec.name}, arrays, {q('bias')}, {q('subias')}, "
            f"{q('weights')},{q('float_weights')}, {q('weights_idx')}, {q('diag')}, "
            f"{q('scale')}, {lay.nb_inputs}, {lay.nb_outputs})) return 1;")
    out += ["    return 0;", "}", "#endif /* DUMP_BINARY_WEIGHTS */"]
    return "\n".join(out) + "\n"


def write_c02(model: RNNoise02Model, path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Write ``path`` (``.c``) and the header beside it (same stem, ``.h``), together;
    ``inputs`` may not be replaced.

    Returns
    -------
    pathlib.Path
        The header's path.
    """
    return _write_c_pair(
        path, inputs, lambda h: format_c02(model, h), lambda h: format_h02(model, h)
    )


# ============================================================================ .c reader

_PREPROC_RE = re.compile(r"#[^\n]*")  # only preprocessor lines hold '#' in these files
_TYPE_DEFINE_RE = re.compile(r"#[ \t]*define[ \t]+WEIGHTS_(\w+)_TYPE[ \t]+(\w+)")
_ARRAY02_RE = re.compile(
    r"(?P<type>float|opus_int8|int8_t|signed\s+char|int|opus_int32|int32_t|qweight|double"
    r"|opus_int16|opus_uint16|unsigned\s+char|short)"
    r"\s+(?P<name>[A-Za-z_]\w*)\s*\[\s*(?P<size>[^\]]*)\]\s*=\s*\{(?P<body>[^{}]*)\}\s*;"
)
_TABLE_RE = re.compile(
    r"WeightArray\s+(?P<name>[A-Za-z_]\w*)\s*\[\s*\w*\s*\]\s*=\s*\{(?P<body>.*?)\}\s*;", re.S
)
_ENTRY_RE = re.compile(
    r'\{\s*"(?P<name>[^"]*)"\s*,\s*(?P<type>[^,{}]+?)\s*,\s*(?P<size>[^,{}]+?)\s*,'
    r"\s*(?P<data>[^,{}]+?)\s*\}"
)
_NULL_ENTRY_RE = re.compile(r"\{\s*(?:NULL|0)\s*,\s*0\s*,\s*0\s*,\s*(?:NULL|0)\s*\}")
_MARKERS = re.compile(
    rb"USE_WEIGHTS_FILE|WeightArray|LinearLayer|WEIGHT_TYPE_|opus_int8|rnnoise_arrays"
    rb"|_weights_float\b|_weights_int8\b"
)
_BAD_FLOAT_CHAR = re.compile(r"[^0-9eE.,+\-fF \t\n\r]")
_BAD_INT_CHAR = re.compile(r"[^0-9,+\- \t\n\r]")
_FLOAT_SUFFIX = re.compile(r"(?<=[0-9.])[fF]")
_FLOAT_TOKEN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_TOKEN = re.compile(r"[+-]?[0-9]{1,12}")


def is_c02_source(data: bytes) -> bool:
    """Whether C source looks like an RNNoise 0.2 ``rnnoise_data.c`` (not v0.1)."""
    return _MARKERS.search(data) is not None


class _Source:
    """The comment-free code of a C file, with line numbers computed only for errors."""

    def __init__(self, path, code: str):
        self.path, self.code = path, code

    def fail(self, problem: str, what: str, pos: int) -> ModelFormatError:
        line = self.code.count("\n", 0, pos) + 1
        return ModelFormatError(self.path, problem, f"{what}, line {line}")


def _parse_values(src: _Source, name: str, wtype: WeightType, m: re.Match) -> np.ndarray:
    """The numbers of one initialiser, as C stores them in the array's type."""
    what, pos = f"array {name!r}", m.start()
    body = m.group("body")
    is_float = wtype == WeightType.FLOAT
    if is_float and ("f" in body or "F" in body):
        body = _FLOAT_SUFFIX.sub("", body)
    tokens = body.split(",")
    if tokens and not tokens[-1].strip():
        tokens.pop()
    if not tokens:
        raise src.fail("empty initialiser", what, pos)
    vals = None
    if (_BAD_FLOAT_CHAR if is_float else _BAD_INT_CHAR).search(body) is None:
        try:  # float()/int() accept more than C, but not with the characters checked above
            vals = np.array(list(map(float if is_float else int, tokens)),
                            dtype=np.float64 if is_float else np.int64)
        except (ValueError, OverflowError):
            vals = None
    if vals is None:
        pat, kind = (_FLOAT_TOKEN, "a decimal number") if is_float else (_INT_TOKEN, "an integer")
        k = next((k for k, t in enumerate(tokens) if not pat.fullmatch(t.strip())), 0)
        raise src.fail(f"value {k} ({tokens[k].strip()[:20]!r}) is not {kind}", what, pos)
    if is_float:
        # a C literal is a double, rounded to float when stored: the same two steps
        with np.errstate(over="ignore"):
            f32 = vals.astype(np.float32)
        if not np.isfinite(f32).all():
            k = int(np.flatnonzero(~np.isfinite(f32))[0])
            raise src.fail(f"value {k} ({tokens[k].strip()[:20]}) overflows a float", what, pos)
        return f32
    lo, hi = _INT_RANGE[wtype]
    bad = np.flatnonzero((vals < lo) | (vals > hi))
    if bad.size:
        k = int(bad[0])
        raise src.fail(f"value {k} ({tokens[k].strip()[:20]}) is outside {lo}..{hi}", what, pos)
    return vals.astype(wtype.dtype)


def _table_type(token: str, macro_types: dict[str, str]) -> WeightType | None:
    """The WeightType a table entry's type field names (None: not stated or unknown)."""
    token = token.strip()
    m = re.fullmatch(r"WEIGHTS_(\w+)_TYPE", token)
    if m:
        token = macro_types.get(m.group(1), "")
    if token in _MACRO_TYPE:
        return _MACRO_TYPE[token]
    if re.fullmatch(r"[0-9]", token):
        try:
            return WeightType(int(token))
        except ValueError:
            return None
    return None


def parse_c02(data: bytes | str, path: PathLike = "<c>") -> RNNoise02Model:
    """Parse RNNoise 0.2 ``rnnoise_data.c`` source (see :func:`read_c02`)."""
    code = _c_source_code(data, path)
    macro_types = {m.group(1): m.group(2) for m in _TYPE_DEFINE_RE.finditer(code)}
    defined = {m.group(1) for m in re.finditer(r"WEIGHTS_(\w+)_DEFINED", code)}
    code = _PREPROC_RE.sub(lambda m: " " * len(m.group()), code)
    src = _Source(path, code)

    arrays: dict[str, tuple[WeightType, re.Match]] = {}
    for m in _ARRAY02_RE.finditer(code):
        name = m.group("name")
        ctype = re.sub(r"\s+", " ", m.group("type"))
        if ctype not in _C_TYPE_OF:
            raise src.fail(f"element type '{ctype}', expected float, opus_int8 or int",
                           f"array {name!r}", m.start())
        if name in arrays:
            raise src.fail("defined twice", f"array {name!r}", m.start())
        arrays[name] = (_C_TYPE_OF[ctype], m)

    tables = {m.group("name"): m for m in _TABLE_RE.finditer(code)}
    table = tables.get("rnnoise_arrays")
    if table is None and len(tables) == 1:
        table = next(iter(tables.values()))
    entries: list[tuple[str, str, str]] = []  # (record name, data symbol, type field)
    if table is not None:
        body, what = table.group("body"), f"{table.group('name')}[]"
        rest = _NULL_ENTRY_RE.sub(" ", _ENTRY_RE.sub(" ", body)).strip(" \n\t\r,")
        if rest:
            raise src.fail(f"unreadable table entry {rest[:30]!r}", what, table.start())
        for e in _ENTRY_RE.finditer(body):
            sym = e.group("data").lstrip("&").strip()
            if sym not in arrays:
                if e.group("name") in defined:
                    continue  # under #ifdef WEIGHTS_<name>_DEFINED: not in this build
                raise src.fail(f"the table names '{sym[:40]}', which is not defined here",
                               f"array {e.group('name')[:50]!r}", table.start())
            entries.append((e.group("name"), sym, e.group("type")))
    elif arrays:
        entries = [(n, n, "") for n in arrays]
    else:
        raise ModelFormatError(
            path, "no weight arrays and no rnnoise_arrays[] table: not rnnoise_data.c")

    records = []
    seen: set[str] = set()
    for rec_name, sym, type_field in entries:
        wtype, m = arrays[sym]
        what = f"array {rec_name[:50]!r}"
        if rec_name in seen:
            raise src.fail("listed twice", what, m.start())
        seen.add(rec_name)
        if not rec_name.isascii() or len(rec_name.encode()) >= 44:
            raise src.fail("name does not fit a weight record (43 ASCII bytes)", what,
                           m.start())
        stated = _table_type(type_field, macro_types)
        if stated is not None and stated != wtype:
            raise src.fail(f"the table says {stated.name.lower()}, the array is "
                           f"{m.group('type')}", what, m.start())
        vals = _parse_values(src, rec_name, wtype, m)
        declared = m.group("size").strip()
        if declared and (not re.fullmatch(r"[0-9]{1,9}", declared) or int(declared) != vals.size):
            raise src.fail(f"declared [{declared[:20]}] but has {vals.size} values", what,
                           m.start())
        records.append(WeightRecord(rec_name, wtype, vals))
    return RNNoise02Model.from_records(records, path)


def read_c02(path: PathLike) -> RNNoise02Model:
    """Read an RNNoise 0.2 model from ``rnnoise_data.c``-style C source.

    Raises
    ------
    InputError
        The file is missing or unreadable.
    ModelFormatError
        Unreadable arrays or table, or arrays that do not form an RNNoise 0.2 model.
    """
    return parse_c02(_read_bytes(path), path)
