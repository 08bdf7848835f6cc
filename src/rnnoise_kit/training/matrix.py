"""Training-matrix files: ``.f32`` (raw rows) and ``.h5`` (dataset ``/data``), conversion,
inspection.

* ``.f32``: rows of 87 native little-endian float32, back to back, exactly what
  ``denoise_training`` writes to stdout.
* ``.h5``: dataset ``data``, float32, shape (rows, 87), chunked, as ``bin2hdf5.py`` writes it
  and ``rnn_train.py`` reads it (``h5py.File(path)['data'][:]``); the file attributes record
  how it was made.

Everything here streams: no function loads a whole matrix into memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from rnnoise_kit.errors import InputError
from rnnoise_kit.fileio import atomic_path

ROW = 87
NB_FEATURES = 42
NB_BANDS = 22
GAIN_COLS = slice(NB_FEATURES, NB_FEATURES + NB_BANDS)
VAD_COL = ROW - 1
CHUNK_ROWS = 4096
"""HDF5 chunk height (4096 x 87 float32 = 1.4 MB)."""
_BLOCK = 1 << 16  # rows per read when converting or inspecting
H5_SUFFIXES = (".h5", ".hdf5")


class MatrixWriter:
    """Append rows to a new ``.f32`` or ``.h5`` matrix; atomic (temp file renamed on exit).

    Parameters
    ----------
    path : path-like
        Suffix ``.f32`` (also ``.bin``) or ``.h5``/``.hdf5``.
    rows : int
        Total rows, known in advance (the ``.h5`` dataset is created at full size).
    attrs : dict, optional
        ``.h5`` file attributes (ignored for ``.f32``).
    """

    def __init__(self, path: str | os.PathLike, rows: int, attrs: dict | None = None):
        self.path = Path(path)
        self.check_suffix(self.path)
        self.rows = int(rows)
        self.attrs = dict(attrs or {})
        self.h5 = self.path.suffix.lower() in H5_SUFFIXES
        self._ctx = None
        self._pos = 0

    @staticmethod
    def check_suffix(path: Path) -> None:
        """Raise InputError unless ``path`` names a ``.f32`` or ``.h5`` file."""
        if Path(path).suffix.lower() not in H5_SUFFIXES + (".f32", ".bin"):
            raise InputError(path, "output must end in .f32 or .h5")

    def __enter__(self) -> MatrixWriter:
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        try:
            if self.h5:
                self._file = h5py.File(tmp, "w")
                self._dset = self._file.create_dataset(
                    "data", shape=(self.rows, ROW), dtype="<f4",
                    chunks=(max(1, min(CHUNK_ROWS, self.rows)), ROW),
                )
                for k, v in self.attrs.items():
                    self._file.attrs[k] = v
            else:
                self._file = open(tmp, "wb")  # noqa: SIM115
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, block: np.ndarray) -> None:
        """Append rows (m, 87)."""
        block = np.ascontiguousarray(block, dtype="<f4")
        if block.ndim != 2 or block.shape[1] != ROW:
            raise ValueError(f"rows must have shape (m, {ROW}), got {block.shape}")
        m = block.shape[0]
        if self._pos + m > self.rows:
            raise ValueError("more rows than announced")
        if self.h5:
            self._dset[self._pos : self._pos + m] = block
        else:
            self._file.write(memoryview(block).cast("B"))  # no copy
        self._pos += m

    def __exit__(self, et, ev, tb) -> bool:
        try:
            self._file.close()
            if et is None and self._pos != self.rows:
                raise RuntimeError(f"wrote {self._pos} of {self.rows} rows")
        except BaseException as exc:
            if et is None:
                self._ctx.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return bool(self._ctx.__exit__(et, ev, tb))


# ----------------------------------------------------------------------------- reading


class MatrixReader:
    """Read a ``.f32`` or ``.h5`` matrix block by block (never all at once)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(self.path, "no such file")
        if self.path.is_dir():
            raise InputError(self.path, "is a directory, not a matrix file")
        self.attrs: dict = {}
        if self.path.suffix.lower() in H5_SUFFIXES or h5py.is_hdf5(self.path):
            try:
                with h5py.File(self.path, "r") as f:
                    if "data" not in f:
                        raise InputError(self.path, "HDF5 file has no dataset 'data'")
                    d = f["data"]
                    if d.ndim != 2 or d.shape[1] != ROW:
                        raise InputError(self.path, f"dataset 'data' has shape {d.shape}, "
                                                    f"not (rows, {ROW})")
                    self.rows = int(d.shape[0])
                    self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
            except OSError as exc:
                raise InputError(self.path, f"not a readable HDF5 file ({exc})") from exc
            self.h5 = True
        else:
            size = self.path.stat().st_size
            if size % (ROW * 4):
                raise InputError(self.path, f"{size} bytes is not a whole number of "
                                            f"{ROW}-float32 rows ({ROW * 4} bytes)")
            self.rows = size // (ROW * 4)
            self.h5 = False

    def blocks(self, block: int = _BLOCK):
        """Yield (start, rows (m, 87) float32) in order."""
        if self.h5:
            with h5py.File(self.path, "r") as f:
                d = f["data"]
                for a in range(0, self.rows, block):
                    yield a, np.asarray(d[a : a + block], dtype=np.float32)
        else:
            with open(self.path, "rb") as f:
                for a in range(0, self.rows, block):
                    m = min(block, self.rows - a)
                    yield a, np.fromfile(f, dtype="<f4", count=m * ROW).reshape(m, ROW)


def _plain(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def convert(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Convert a ``.f32`` matrix to ``.h5`` (``bin2hdf5.py``), chunk by chunk. Returns rows."""
    r = MatrixReader(src)
    if r.h5:
        raise InputError(src, "already an HDF5 file; --convert takes a .f32 matrix")
    if Path(dst).suffix.lower() not in H5_SUFFIXES:
        raise InputError(dst, "--convert writes a .h5 file")
    if r.rows == 0:
        raise InputError(src, "contains no rows")
    attrs = {"converted_from": str(src), "columns": ROW}
    with MatrixWriter(dst, r.rows, attrs) as w:
        for _, rows in r.blocks():
            w.write(rows)
    return r.rows


@dataclass
class Inspection:
    """Summary of a matrix (see :func:`inspect`)."""

    path: str
    rows: int
    ignored_share: np.ndarray  # (22,) share of -1 gains per band
    vad_counts: dict  # {0.0: n, 0.5: n, 1.0: n, "other": n}
    col_min: np.ndarray
    col_max: np.ndarray
    col_mean: np.ndarray
    nonfinite: int
    attrs: dict

    def lines(self) -> list[str]:
        """A human-readable report."""
        out = [f"{self.path}: {self.rows} rows x {ROW} float32"]
        if self.rows == 0:
            return out
        if self.nonfinite:
            out.append(f"WARNING: {self.nonfinite} non-finite values")
        out.append("ignored gains (-1) per band, %:")
        share = self.ignored_share * 100
        out.append("  " + " ".join(f"{b:>5d}" for b in range(NB_BANDS)))
        out.append("  " + " ".join(f"{s:5.1f}" for s in share))
        v = self.vad_counts
        out.append(
            "VAD target: " + ", ".join(
                f"{k}: {v[k]} ({100 * v[k] / self.rows:.1f}%)" for k in (0.0, 0.5, 1.0))
            + (f", other: {v['other']}" if v["other"] else "")
        )
        names = (
            [(0, 42, "features")] + [(42, 64, "gains")] + [(64, 86, "noise log-energy")]
            + [(86, 87, "vad")]
        )
        out.append("column ranges (min / mean / max):")
        for a, b, name in names:
            for c in range(a, b):
                out.append(f"  {c:2d} {name:<16s} {self.col_min[c]:+11.4f} "
                           f"{self.col_mean[c]:+11.4f} {self.col_max[c]:+11.4f}")
        return out


def inspect(path: str | os.PathLike) -> Inspection:
    """Row count, share of ignored gains per band, VAD histogram, per-column ranges."""
    r = MatrixReader(path)
    ignored = np.zeros(NB_BANDS, np.int64)
    vad = {0.0: 0, 0.5: 0, 1.0: 0, "other": 0}
    cmin = np.full(ROW, np.inf)
    cmax = np.full(ROW, -np.inf)
    csum = np.zeros(ROW)
    nonfinite = 0
    for _, rows in r.blocks():
        finite = np.isfinite(rows)
        nonfinite += int(rows.size - finite.sum())
        clean = np.where(finite, rows, np.nan).astype(np.float64)
        cmin = np.fmin(cmin, np.nanmin(clean, axis=0))
        cmax = np.fmax(cmax, np.nanmax(clean, axis=0))
        csum += np.nansum(clean, axis=0)
        ignored += (rows[:, GAIN_COLS] == -1).sum(axis=0)
        v = rows[:, VAD_COL]
        for k in (0.0, 0.5, 1.0):
            vad[k] += int((v == k).sum())
        vad["other"] += int(rows.shape[0] - ((v == 0) | (v == 0.5) | (v == 1)).sum())
    n = max(r.rows, 1)
    return Inspection(str(path), r.rows, ignored / n, vad, cmin, cmax, csum / n, nonfinite,
                      r.attrs)
