"""Sharded training matrices: a folder of numbered ``.f32`` shards and an ``index.json``.

A matrix too big for one file, or written by many machines at once, is a folder::

    m/shard-00000.f32   rows of ``columns`` little-endian float32, back to back
    m/shard-00001.f32
    ...
    m/index.json        written last: rows, columns, how the rows were made, and for each
                        shard its file, rows, generator shard number and sha256

Each shard file is written under a hidden temporary name and renamed, by whichever process
made it (a Dask worker writes its own shards to shared storage), so a shard file that exists
is complete. The index is written only when every shard is there: a folder without one is an
unfinished run, which the same command resumes by making only the missing shards
(``.run.json`` records what run the shards belong to).

The width is generic (``columns`` in the index): v0.1 rows are 87 float32, RNNoise 0.2 rows
98. Reading streams: no function here holds more than one block of rows.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rnnoise_kit.errors import InputError, OutputError
from rnnoise_kit.fileio import atomic_path, atomic_write_text

INDEX_NAME = "index.json"
RUN_NAME = ".run.json"
FORMAT = "rnnoise-kit sharded matrix 1"
_OPEN_SHARDS = 64
"""Shard files a reader keeps open at once."""
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.f32$")

__all__ = ["INDEX_NAME", "ShardedMatrix", "ShardedRun", "is_sharded", "shard_path",
           "wants_folder", "write_shard"]


def wants_folder(path: str | os.PathLike) -> bool:
    """Whether an output path names a sharded matrix: it ends in a path separator or is an
    existing folder (``-o m/``)."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a sharded matrix's index."""
    p = Path(path)
    return p.is_dir() and (p / INDEX_NAME).is_file()


def shard_path(folder: str | os.PathLike, index: int) -> Path:
    """The file of shard ``index`` in ``folder``."""
    return Path(folder) / f"shard-{int(index):05d}.f32"


def write_shard(path: str | os.PathLike, rows: np.ndarray) -> tuple[int, str]:
    """Write ``rows`` (m, columns) float32 to ``path`` atomically; return (m, sha256).

    Raises
    ------
    OutputError
        The file cannot be written (full disk, read-only folder).
    """
    data = np.ascontiguousarray(rows, dtype="<f4")
    view = memoryview(data).cast("B")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(view)
    return int(data.shape[0]), hashlib.sha256(view).hexdigest()


def _sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class ShardedRun:
    """Writing a sharded matrix into ``folder``, resumable (see the module docstring).

    Parameters
    ----------
    folder : path-like
        Created if missing. Only this module's files in it are ever removed.
    rows, columns : int
        The matrix's size.
    resume_key : str or None
        What a resumed run must share with the interrupted one; None: never resume.
    """

    def __init__(self, folder: str | os.PathLike, rows: int, columns: int,
                 resume_key: str | None):
        self.folder = Path(folder)
        self.rows, self.columns = int(rows), int(columns)
        self.key = resume_key
        self.done: dict[int, dict] = {}
        """Shards already complete from an interrupted run: number -> index entry."""

    def start(self, expected_rows: dict[int, int]) -> None:
        """Keep the complete shards of an interrupted run of the same key (their number and
        rows in ``expected_rows``), remove everything else of ours, and mark the run open."""
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(self.folder, "exists and is not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.folder, f"cannot create the folder ({exc.strerror})") from exc
        previous = None
        for name in (RUN_NAME, INDEX_NAME):
            with contextlib.suppress(OSError, ValueError):
                previous = previous or json.loads((self.folder / name).read_text("utf-8"))
        same = (self.key is not None and previous is not None
                and previous.get("resume_key") == self.key
                and int(previous.get("rows", -1)) == self.rows
                and int(previous.get("columns", -1)) == self.columns)
        known = {int(e["shard"]): e for e in (previous or {}).get("shards", [])} if same else {}
        with contextlib.suppress(FileNotFoundError):
            (self.folder / INDEX_NAME).unlink()  # never an index over shards being rewritten
        for p in self.folder.iterdir():
            m = _SHARD_RE.match(p.name)
            if m is None:
                if p.name.startswith(".shard-"):  # a temporary a killed writer left
                    with contextlib.suppress(OSError):
                        p.unlink()
                continue
            i = int(m.group(1))
            want = expected_rows.get(i)
            if same and want is not None and p.stat().st_size == want * self.columns * 4:
                entry = known.get(i)
                sha = entry["sha256"] if entry else _sha256_file(p)
                self.done[i] = {"shard": i, "file": p.name, "rows": want, "sha256": sha}
            else:
                p.unlink()
        self._save_run()

    def add(self, shard: int, rows: int, sha256: str) -> None:
        """Record a shard written (by this process or a worker)."""
        self.done[int(shard)] = {"shard": int(shard), "file": shard_path("", shard).name,
                                 "rows": int(rows), "sha256": sha256}
        self._save_run()

    def _save_run(self) -> None:
        state = {"resume_key": self.key, "rows": self.rows, "columns": self.columns,
                 "shards": [self.done[i] for i in sorted(self.done)]}
        atomic_write_text(self.folder / RUN_NAME, json.dumps(state) + "\n")

    def finish(self, attrs: dict) -> Path:
        """Write the index (last) once every shard is there; return its path."""
        shards = [self.done[i] for i in sorted(self.done)]
        total = sum(e["rows"] for e in shards)
        if total != self.rows:  # pragma: no cover - a bug
            raise RuntimeError(f"{total} rows in the shards instead of {self.rows}")
        index = {"format": FORMAT, "rows": self.rows, "columns": self.columns,
                 "dtype": "<f4", "resume_key": self.key, "attrs": attrs, "shards": shards}
        path = self.folder / INDEX_NAME
        atomic_write_text(path, json.dumps(index, indent=1, default=str) + "\n")
        with contextlib.suppress(FileNotFoundError):
            (self.folder / RUN_NAME).unlink()
        return path


class ShardedMatrix:
    """Read a sharded matrix like one file: block by block, or any rows by position.

    Parameters
    ----------
    folder : path-like
        The folder holding ``index.json``.
    columns : int, optional
        The width the caller expects (refused when the index says otherwise).

    Raises
    ------
    InputError
        No index (an unfinished run), a malformed index, or a shard missing or of the
        wrong size.
    """

    def __init__(self, folder: str | os.PathLike, columns: int | None = None):
        self.path = Path(folder)
        index_path = self.path / INDEX_NAME
        if not index_path.is_file():
            raise InputError(self.path, f"has no {INDEX_NAME}: not a sharded matrix, or its "
                                        "run has not finished (run the command again)")
        try:
            index = json.loads(index_path.read_text("utf-8"))
            self.columns = int(index["columns"])
            self.rows = int(index["rows"])
            self.shards = [(self.path / e["file"], int(e["rows"]), str(e["sha256"]))
                           for e in index["shards"]]
            self.attrs = dict(index.get("attrs", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(index_path, f"is not a sharded-matrix index ({exc})") from exc
        if columns is not None and self.columns != columns:
            raise InputError(self.path, f"holds rows of {self.columns} columns, not {columns}")
        for path, rows, _ in self.shards:
            size = path.stat().st_size if path.is_file() else -1
            if size != rows * self.columns * 4:
                got = "missing" if size < 0 else f"{size} bytes"
                raise InputError(path, f"shard is {got}, the index says {rows} rows of "
                                       f"{self.columns} float32")
        if sum(r for _, r, _ in self.shards) != self.rows:
            raise InputError(index_path, "shard rows do not add up to the index's rows")
        self.offsets = np.cumsum([0] + [r for _, r, _ in self.shards]).tolist()
        self._fds: dict[int, int] = {}

    def blocks(self, block: int = 1 << 16, verify: bool = False
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start, rows (m, columns) float32) in order; ``verify`` checks each shard's
        sha256 as it is read (InputError on a mismatch)."""
        start = 0
        for path, rows, sha in self.shards:
            h = hashlib.sha256() if verify else None
            with open(path, "rb") as f:
                for a in range(0, rows, block):
                    m = min(block, rows - a)
                    data = np.fromfile(f, dtype="<f4", count=m * self.columns)
                    if h is not None:
                        h.update(memoryview(data).cast("B"))
                    yield start + a, data.reshape(m, self.columns)
            if h is not None and h.hexdigest() != sha:
                raise InputError(path, "shard does not match the sha256 in the index "
                                       "(changed or corrupt)")
            start += rows

    def read_into(self, start: int, out: np.ndarray) -> None:
        """Fill ``out`` (m, columns) float32 with rows ``start .. start + m - 1``."""
        m = out.shape[0]
        if start < 0 or start + m > self.rows:
            raise IndexError("rows out of range")
        buf = memoryview(out.reshape(-1)).cast("B")
        row_bytes = self.columns * 4
        done = 0
        i = bisect.bisect_right(self.offsets, start) - 1
        while done < m:
            first = start + done - self.offsets[i]
            take = min(m - done, self.shards[i][1] - first)
            if take > 0:
                fd = self._fds.get(i)
                if fd is None:
                    if len(self._fds) >= _OPEN_SHARDS:
                        self.close()  # thousands of shards: keep the open files few
                    fd = self._fds[i] = os.open(self.shards[i][0],
                                                os.O_RDONLY | getattr(os, "O_BINARY", 0))
                part = buf[done * row_bytes : (done + take) * row_bytes]
                got = 0
                while got < len(part):
                    n = os.preadv(fd, [part[got:]], first * row_bytes + got)
                    if n <= 0:
                        raise InputError(self.shards[i][0], "shard shrank while reading")
                    got += n
                done += take
            i += 1

    def close(self) -> None:
        """Close the shard files read so far (reopened on the next read)."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
