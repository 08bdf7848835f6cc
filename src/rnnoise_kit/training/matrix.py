"""Training-matrix files: ``.f32`` (raw rows) and ``.h5`` (dataset ``/data``), conversion,
inspection.

* ``.f32``: rows of 87 native little-endian float32, back to back, exactly what
  ``denoise_training`` writes to stdout.
* a folder: numbered ``.f32`` shards and ``index.json``
  (:mod:`rnnoise_kit.training.sharded`), read exactly like one file.
* ``.h5``: dataset ``data``, float32, shape (rows, 87), chunked, as ``bin2hdf5.py`` writes it
  and ``rnn_train.py`` reads it (``h5py.File(path)['data'][:]``); the file attributes record
  how it was made.

Everything here streams: no function loads a whole matrix into memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from rnnoise_kit import capacity
from rnnoise_kit.dsp.constants import NB_BANDS
from rnnoise_kit.errors import InputError, OutputError
from rnnoise_kit.fileio import (
    atomic_path,
    atomic_write_text,
    check_outputs,
    check_suffix,
    make_parent,
    write_problem,
)
from rnnoise_kit.training.layout import GAINS, GROUPS, ROW, VAD_COL
from rnnoise_kit.training.sharded import INDEX_NAME, ShardedMatrix

CHUNK_ROWS = 4096
"""HDF5 chunk height (4096 x 87 float32 = 1.4 MB)."""
_BLOCK = 1 << 16  # rows per read when converting or inspecting
H5_SUFFIXES = (".h5", ".hdf5")


def matrix_bytes(rows: int, h5: bool = False, columns: int = ROW) -> int:
    """Bytes a matrix of ``rows`` rows takes on disk (``.h5``: plus its metadata, about one
    chunk-index entry per chunk and a few kilobytes). The one size estimate of the package:
    what is refused up front when the disk cannot hold it. ``columns``: floats per row (v0.1's
    87 by default; 0.2's rows have 98)."""
    data = int(rows) * int(columns) * 4
    if not h5:
        return data
    return data + 64 * 1024 + 64 * (int(rows) // CHUNK_ROWS + 1)


def check_matrix_room(output: str | os.PathLike, rows: int, columns: int = ROW) -> None:
    """Refuse (OutputError, with the size) a matrix that the output's disk cannot hold."""
    h5 = Path(output).suffix.lower() in H5_SUFFIXES
    capacity.check_disk(output, matrix_bytes(rows, h5, columns),
                        f"{int(rows)} rows x {int(columns)} float32")


def _h5_problem(exc: BaseException, path: Path) -> str:
    """HDF5 reports a failed write as text ("... errno = 28, error message = ...")."""
    m = re.search(r"errno = (\d+)", str(exc))
    return write_problem(OSError(int(m.group(1)), "") if m else exc, path)


class MatrixWriter:
    """Append rows to a new ``.f32`` or ``.h5`` matrix; atomic (temp file renamed on exit).

    The space the matrix takes is checked before anything is written, and an ``.h5``
    dataset is allocated (and zero-filled) in full when it is created: a full disk is then
    an :class:`OutputError` raised before any row is computed, never a failure inside HDF5
    (which can crash the interpreter when a write fails later).

    Parameters
    ----------
    path : path-like
        Suffix ``.f32`` (also ``.bin``) or ``.h5``/``.hdf5``.
    rows : int
        Total rows, known in advance (the ``.h5`` dataset is created at full size).
    attrs : dict, optional
        ``.h5`` file attributes (ignored for ``.f32``).
    resume_key : str, optional
        Make the writing resumable: the rows go to a fixed hidden file beside ``path``
        (``.NAME.resume.partSUFFIX``) with a small state file recording how many rows are
        complete (:meth:`checkpoint`). Interrupted (Ctrl-C, SIGTERM, SIGKILL, a full disk),
        they stay; a later writer of the same ``path`` with the same key continues after the
        last checkpoint (:attr:`start_row`), any other writer starts afresh.
    inputs : iterable of path-like, optional
        Files the rows are made from: the output must not be one of them.
    columns : int
        Floats per row: v0.1's 87 (default) or 0.2's 98.
    """

    def __init__(self, path: str | os.PathLike, rows: int, attrs: dict | None = None,
                 resume_key: str | None = None, inputs=(), columns: int = ROW):
        self.path = Path(path)
        self.check_suffix(self.path)
        check_outputs([self.path], inputs)
        self.rows = int(rows)
        self.columns = int(columns)
        self.attrs = dict(attrs or {})
        self.h5 = self.path.suffix.lower() in H5_SUFFIXES
        self.resume_key = resume_key
        self.start_row = 0
        """Rows already complete from an interrupted run (0 for a fresh one)."""
        self._ctx = None
        self._pos = 0
        self._tmp: Path | None = None

    @staticmethod
    def check_suffix(path: Path) -> None:
        """Raise OutputError unless ``path`` names a ``.f32`` or ``.h5`` file."""
        check_suffix(path, H5_SUFFIXES + (".f32", ".bin"), "a training matrix")

    @property
    def _resume_paths(self) -> tuple[Path, Path]:
        stem = f".{self.path.name}.resume"
        return (self.path.with_name(stem + ".part" + self.path.suffix),
                self.path.with_name(stem + ".json"))

    def __enter__(self) -> MatrixWriter:
        if self.path.is_dir():
            raise OutputError(self.path, "is a folder; give the matrix file to write")
        if self.resume_key is not None:
            make_parent(self.path)
            if self._reopen():
                return self
        check_matrix_room(self.path, self.rows, self.columns)
        if self.resume_key is None:
            self._ctx = atomic_path(self.path)
            tmp = self._ctx.__enter__()
        else:
            tmp, _ = self._resume_paths
            self._discard_resume()
        self._tmp = tmp
        try:
            self._open_new(tmp)
            if self.resume_key is not None:
                self.checkpoint()
        except BaseException as exc:
            self._abandon(exc)
            raise
        return self

    def _open_new(self, tmp: Path) -> None:
        if not self.h5:
            try:
                self._file = open(tmp, "wb")  # noqa: SIM115
            except OSError as exc:
                raise OutputError(self.path, write_problem(exc, self.path)) from exc
            return
        try:
            self._file = h5py.File(tmp, "w")
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # every chunk written now
            self._dset = self._file.create_dataset(
                "data", shape=(self.rows, self.columns), dtype="<f4",
                chunks=(max(1, min(CHUNK_ROWS, self.rows)), self.columns), dcpl=dcpl,
            )
            for k, v in self.attrs.items():
                self._file.attrs[k] = v
            self._file.flush()
        except (OSError, ValueError, RuntimeError) as exc:
            raise OutputError(self.path, _h5_problem(exc, self.path)) from exc

    def _reopen(self) -> bool:
        """Continue an interrupted resumable write; False when there is none to continue."""
        tmp, state_path = self._resume_paths
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            done = int(state["rows_done"])
            owner = int(state.get("pid", 0))
            same = (state["key"] == self.resume_key and int(state["rows"]) == self.rows
                    and 0 <= done <= self.rows and tmp.is_file())
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if owner and owner != os.getpid():
            try:
                os.kill(owner, 0)
                raise OutputError(self.path, f"is being written by process {owner}")
            except ProcessLookupError:
                pass
            except PermissionError:
                raise OutputError(self.path, f"is being written by process {owner}") from None
        if not same:
            return False
        try:
            if self.h5:
                self._file = h5py.File(tmp, "r+")
                self._dset = self._file["data"]
                if self._dset.shape != (self.rows, self.columns):
                    self._file.close()
                    return False
            else:
                check_matrix_room(self.path, self.rows - done, self.columns)
                self._file = open(tmp, "r+b")  # noqa: SIM115
                self._file.truncate(done * self.columns * 4)
                self._file.seek(done * self.columns * 4)
        except OutputError:
            raise
        except Exception:  # an unreadable leftover: start afresh
            with contextlib.suppress(Exception):
                self._file.close()
            return False
        self._tmp = tmp
        self._pos = self.start_row = done
        self.checkpoint()
        return True

    def _discard_resume(self) -> None:
        for p in self._resume_paths:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # a read-only folder refuses even to look
                raise OutputError(self.path, write_problem(exc, self.path)) from exc

    def write(self, block: np.ndarray) -> None:
        """Append rows (m, columns)."""
        block = np.ascontiguousarray(block, dtype="<f4")
        if block.ndim != 2 or block.shape[1] != self.columns:
            raise ValueError(f"rows must have shape (m, {self.columns}), got {block.shape}")
        m = block.shape[0]
        if self._pos + m > self.rows:
            raise ValueError("more rows than announced")
        try:
            if self.h5:
                self._dset[self._pos : self._pos + m] = block
            else:
                self._file.write(memoryview(block).cast("B"))  # no copy
        except (OSError, ValueError, RuntimeError) as exc:
            raise OutputError(self.path, _h5_problem(exc, self.path)) from exc
        self._pos += m

    def checkpoint(self) -> None:
        """Resumable writers: record the rows written so far as complete."""
        if self.resume_key is None:
            return
        self._file.flush()
        _, state_path = self._resume_paths
        state = {"key": self.resume_key, "rows": self.rows, "rows_done": self._pos,
                 "pid": os.getpid()}
        atomic_write_text(state_path, json.dumps(state) + "\n")

    def _abandon(self, exc: BaseException) -> None:
        """Close after a failure; keep a resumable file when the run can continue later."""
        with contextlib.suppress(Exception):
            self._file.close()
        if self._ctx is not None:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            return
        keep = isinstance(exc, (KeyboardInterrupt, SystemExit, OSError, OutputError))
        if not keep or self._pos == 0:
            self._discard_resume()

    def __exit__(self, et, ev, tb) -> bool:
        if et is not None:
            self._abandon(ev)
            return False
        try:
            self._file.close()
            if self._pos != self.rows:
                raise RuntimeError(f"wrote {self._pos} of {self.rows} rows")
        except BaseException as exc:
            self._abandon(exc)
            raise
        if self._ctx is not None:
            return bool(self._ctx.__exit__(None, None, None))
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise OutputError(self.path, write_problem(exc, self.path)) from exc
        self._discard_resume()
        return False


# ----------------------------------------------------------------------------- reading


class MatrixReader:
    """Read a ``.f32`` or ``.h5`` matrix, or a sharded one (a folder with ``index.json``,
    :mod:`rnnoise_kit.training.sharded`), block by block (never all at once).

    Parameters
    ----------
    path : path-like
        The matrix.
    columns : int
        Row width: 87 for v0.1 rows (:data:`rnnoise_kit.training.layout.ROW`, the default),
        98 for 0.2 rows (:data:`rnnoise_kit.training.v02.layout.ROW`).
    """

    def __init__(self, path: str | os.PathLike, columns: int = ROW):
        self.path = Path(path)
        self.columns = int(columns)
        width = self.columns
        if not self.path.exists():
            raise InputError(self.path, "no such file")
        self.attrs: dict = {}
        self.sharded: ShardedMatrix | None = None
        self.h5 = False
        if self.path.is_dir():
            if not (self.path / INDEX_NAME).exists() and not any(self.path.glob("shard-*")):
                raise InputError(self.path, "is a directory, not a matrix file")
            self.sharded = ShardedMatrix(self.path, width)
            self.rows = self.sharded.rows
            self.attrs = self.sharded.attrs
            return
        if self.path.suffix.lower() in H5_SUFFIXES or h5py.is_hdf5(self.path):
            try:
                with h5py.File(self.path, "r") as f:
                    if "data" not in f:
                        raise InputError(self.path, "HDF5 file has no dataset 'data'")
                    d = f["data"]
                    if not isinstance(d, h5py.Dataset):
                        raise InputError(self.path, "'data' in this HDF5 file is a group, not "
                                                    "a dataset of rows")
                    if d.dtype.kind not in "fiu":
                        raise InputError(self.path, f"dataset 'data' holds {d.dtype}, not "
                                                    "numbers")
                    if d.ndim != 2 or d.shape[1] != width:
                        raise InputError(self.path, f"dataset 'data' has shape {d.shape}, "
                                                    f"not (rows, {width})")
                    self.rows = int(d.shape[0])
                    self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
            except OSError as exc:
                raise InputError(self.path, f"not a readable HDF5 file ({exc})") from exc
            self.h5 = True
        else:
            size = self.path.stat().st_size
            if size % (width * 4):
                raise InputError(self.path, f"{size} bytes is not a whole number of "
                                            f"{width}-float32 rows ({width * 4} bytes)")
            self.rows = size // (width * 4)
            self.h5 = False

    def blocks(self, block: int = _BLOCK):
        """Yield (start, rows (m, columns) float32) in order."""
        if self.sharded is not None:
            yield from self.sharded.blocks(block)
        elif self.h5:
            with h5py.File(self.path, "r") as f:
                d = f["data"]
                for a in range(0, self.rows, block):
                    yield a, np.asarray(d[a : a + block], dtype=np.float32)
        else:
            with open(self.path, "rb") as f:
                for a in range(0, self.rows, block):
                    m = min(block, self.rows - a)
                    rows = np.fromfile(f, dtype="<f4", count=m * self.columns)
                    yield a, rows.reshape(m, self.columns)


def find_nonfinite(path: str | os.PathLike, columns: int = ROW) -> tuple[int, int] | None:
    """(row, column) of the first NaN or infinite value of a matrix of ``columns``-float
    rows, or None; streamed.

    Raises
    ------
    InputError
        The file is not a readable matrix.
    """
    for start, rows in MatrixReader(path, columns).blocks():
        bad = ~np.isfinite(rows)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            return start + int(row), int(col)
    return None


def _plain(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def convert(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Convert a ``.f32`` or sharded matrix to ``.h5`` (``bin2hdf5.py``), chunk by chunk.
    Returns rows."""
    r = MatrixReader(src)
    if r.h5:
        raise InputError(src, "already an HDF5 file; only a .f32 or sharded matrix is "
                              "converted")
    check_suffix(dst, H5_SUFFIXES, "an HDF5 matrix")
    if r.rows == 0:
        raise InputError(src, "contains no rows")
    attrs = {**r.attrs, "converted_from": str(src), "columns": ROW}
    inputs = [src] if r.sharded is None else [p for p, _, _ in r.sharded.shards]
    with MatrixWriter(dst, r.rows, attrs, inputs=inputs) as w:
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
        out.append("column ranges (min / mean / max):")
        for name, cols in GROUPS:
            for c in range(cols.start, cols.stop):
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
        ignored += (rows[:, GAINS] == -1).sum(axis=0)
        v = rows[:, VAD_COL]
        for k in (0.0, 0.5, 1.0):
            vad[k] += int((v == k).sum())
        vad["other"] += int(rows.shape[0] - ((v == 0) | (v == 0.5) | (v == 1)).sum())
    n = max(r.rows, 1)
    return Inspection(str(path), r.rows, ignored / n, vad, cmin, cmax, csum / n, nonfinite,
                      r.attrs)
