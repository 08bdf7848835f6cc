"""The built-in model of a librnnoise 0.2 shared library, read through ctypes.

A librnnoise 0.2 built with its model compiled in (``rnnoise_data.c`` without
``USE_WEIGHTS_FILE``) exports the table ``const WeightArray rnnoise_arrays[]`` that
``init_rnnoise`` reads: ``{const char *name; int type; int size; const void *data;}``
entries (upstream's ``nnet.h``), ended by one whose name is NULL. Reading that table gives
the exact arrays the library computes with; written in table order they are the blob
upstream's ``dump_weights_blob`` would write from the same ``rnnoise_data.c``.

Loading a shared library runs its initialisers: only load libraries you would run anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from rnnoise_kit.dsp.constants import FRAME_SIZE
from rnnoise_kit.errors import InputError, ModelFormatError
from rnnoise_kit.model.v02.blob import NAME_SIZE, WeightRecord, WeightType
from rnnoise_kit.model.v02.model import RNNoise02Model

__all__ = [
    "ARRAYS_SYMBOL",
    "LibraryRunner",
    "read_library",
    "library_records",
    "pyrnnoise_library",
]

ARRAYS_SYMBOL = "rnnoise_arrays"
_MAX_ENTRIES = 4096
"""Entries read before giving up on finding the table's end (RNNoise 0.2 has 50)."""
_MAX_ARRAY_BYTES = 1 << 30


class _WeightArray(ctypes.Structure):
    """upstream ``nnet.h``: ``typedef struct {const char *name; int type; int size;
    const void *data;} WeightArray;``"""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("size", ctypes.c_int),
        ("data", ctypes.c_void_p),
    ]


def _load(path: Path) -> ctypes.CDLL:
    if sys.platform.startswith("linux"):
        # librnnoise.so does not link libm itself (spec reference README); load it globally
        # first so that the library's math symbols resolve wherever it is loaded.
        libm = ctypes.util.find_library("m") or "libm.so.6"
        try:
            ctypes.CDLL(libm, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        raise InputError(path, f"cannot load the shared library ({exc})") from None


def library_records(path: str | os.PathLike) -> list[WeightRecord]:
    """The ``rnnoise_arrays`` table of a librnnoise shared library, as weight records.

    Raises
    ------
    InputError
        The file is missing or is not a loadable shared library.
    ModelFormatError
        The library has no ``rnnoise_arrays`` table (built with ``USE_WEIGHTS_FILE``, or
        not RNNoise 0.2), or the table is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    lib = _load(path)
    try:
        base = ctypes.c_char.in_dll(lib, ARRAYS_SYMBOL)
    except ValueError:
        raise ModelFormatError(
            path, f"exports no '{ARRAYS_SYMBOL}' table: not a librnnoise 0.2 build with a "
                  "built-in model (builds with USE_WEIGHTS_FILE, and RNNoise v0.1, have none)"
        ) from None
    table = ctypes.cast(ctypes.addressof(base), ctypes.POINTER(_WeightArray))
    records: list[WeightRecord] = []
    for i in range(_MAX_ENTRIES):
        entry = table[i]
        if not entry.name:
            break
        raw = entry.name
        where = f"{ARRAYS_SYMBOL}[{i}]"
        if len(raw) >= NAME_SIZE or not raw.isascii():
            raise ModelFormatError(path, f"name {raw[:50]!r} does not fit a weight record", where)
        name = raw.decode("ascii")
        try:
            wtype = WeightType(entry.type)
        except ValueError:
            raise ModelFormatError(path, f"unknown weight type {entry.type}",
                                   f"array {name!r}") from None
        item = wtype.dtype.itemsize
        if not 0 < entry.size <= _MAX_ARRAY_BYTES or entry.size % item or not entry.data:
            raise ModelFormatError(path, f"size {entry.size} bytes is not a positive multiple "
                                         f"of {item}", f"array {name!r}")
        buf = ctypes.string_at(entry.data, entry.size)
        records.append(WeightRecord(name, wtype, np.frombuffer(buf, dtype=wtype.dtype).copy()))
    else:
        raise ModelFormatError(path, f"no NULL entry ends the table in {_MAX_ENTRIES} entries",
                               ARRAYS_SYMBOL)
    return records


def read_library(path: str | os.PathLike) -> RNNoise02Model:
    """The built-in model of a librnnoise 0.2 shared library (``librnnoise.so``).

    Raises
    ------
    InputError, ModelFormatError
        As :func:`library_records`, or the arrays do not form an RNNoise 0.2 model.
    """
    return RNNoise02Model.from_records(library_records(path), path)


def pyrnnoise_library() -> Path | None:
    """The librnnoise inside the installed ``pyrnnoise`` package, or None.

    Found without importing pyrnnoise (which loads the library and plotting packages).
    """
    try:
        spec = importlib.util.find_spec("pyrnnoise")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    names = {"darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}
    name = names.get(sys.platform, "librnnoise.so")
    for folder in spec.submodule_search_locations:
        cand = Path(folder) / name
        if cand.is_file():
            return cand
    return None


class LibraryRunner:
    """A librnnoise 0.2 shared library run frame by frame through ctypes: the C reference that
    tests and benchmarks compare rnnoise-kit with (not a denoiser: 48 kHz whole frames only, no
    resampling, no delay compensation; use :class:`rnnoise_kit.Denoiser` for audio).

    Parameters
    ----------
    path : path-like
        The shared library (e.g. :func:`pyrnnoise_library`).

    Notes
    -----
    Models loaded from blobs stay allocated for the runner's life: upstream's
    ``rnnoise_model_from_buffer`` keeps pointers into the blob and leaves the model's ``file``
    field uninitialised, so ``rnnoise_model_free`` would ``fclose`` garbage (spec section 8).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "no such file" if not self.path.exists()
                             else "not a file")
        lib = _load(self.path)
        try:
            lib.rnnoise_model_from_buffer.restype = ctypes.c_void_p
            lib.rnnoise_model_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.rnnoise_create.restype = ctypes.c_void_p
            lib.rnnoise_create.argtypes = [ctypes.c_void_p]
            lib.rnnoise_destroy.restype = None
            lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
            lib.rnnoise_process_frame.restype = ctypes.c_float
            lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p] * 3
        except AttributeError as exc:
            raise ModelFormatError(self.path, f"is not a librnnoise 0.2 build ({exc})") from None
        self._lib = lib
        self._models: dict[bytes, tuple[ctypes.Array, int]] = {}

    def _model(self, blob: bytes) -> int:
        if blob not in self._models:
            buf = ctypes.create_string_buffer(blob, len(blob))
            ptr = self._lib.rnnoise_model_from_buffer(buf, len(blob))
            if not ptr:
                raise ModelFormatError(self.path, "rnnoise_model_from_buffer refused the blob")
            self._models[blob] = (buf, ptr)
        return self._models[blob][1]

    def process(self, x: np.ndarray, blob: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``rnnoise_process_frame`` over whole frames, from a fresh ``rnnoise_create``.

        Parameters
        ----------
        x : np.ndarray, shape (480 n,)
            48 kHz samples in int16 scale (converted to float32).
        blob : bytes, optional
            A weight blob loaded with ``rnnoise_model_from_buffer``; None: the library's
            built-in model.

        Returns
        -------
        out : np.ndarray, float32, shape (480 n,)
            The library's float output, every frame kept (960 samples of delay).
        vad : np.ndarray, float32, shape (n,)
            The return value of each call.

        Raises
        ------
        ModelFormatError
            The library refuses the blob (parse or ``init_rnnoise`` size checks).
        """
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        if x.shape[0] % FRAME_SIZE:
            raise ValueError(f"x must hold whole {FRAME_SIZE}-sample frames, got {x.shape[0]}")
        n = x.shape[0] // FRAME_SIZE
        model = None if blob is None else self._model(bytes(blob))
        st = self._lib.rnnoise_create(model)
        if not st:
            raise ModelFormatError(self.path, "rnnoise_create refused the model (its sizes do "
                                              "not match what the library was built for)")
        out = np.empty_like(x)
        vad = np.empty(n, np.float32)
        step = FRAME_SIZE * x.itemsize
        src, dst = x.ctypes.data, out.ctypes.data
        process = self._lib.rnnoise_process_frame
        try:
            for t in range(n):
                vad[t] = process(st, dst + t * step, src + t * step)
        finally:
            self._lib.rnnoise_destroy(st)
        return out, vad
