"""Out-of-core sequence batches of a training matrix (``.h5`` dataset ``/data`` or ``.f32``).

The matrix is cut as ``rnn_train.py`` cuts it (spec section 13): the first
``rows // window * window`` rows form ``rows // window`` sequences of ``window`` frames; the
first ``int(n * (1 - val_split))`` sequences train, the rest (the last 10 % by default)
validate, as Keras' ``validation_split``. Training sequences are shuffled per epoch with a
generator seeded by ``(seed, epoch)``, so an epoch's order does not depend on what ran before
(a resumed run sees the same batches as an uninterrupted one).

Nothing loads the whole matrix: a batch reads its sequences by index (sorted, one contiguous
slice each) from h5py or with ``pread`` from the ``.f32`` file or the shard files. No memory
map is used, so the file's pages never count towards the process' resident set.

This module needs NumPy and h5py only (no torch).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np

from rnnoise_kit.errors import InputError
from rnnoise_kit.training.layout import ROW
from rnnoise_kit.training.matrix import MatrixReader

__all__ = ["SequenceData", "epoch_order", "prefetched"]

_T = TypeVar("_T")
_U = TypeVar("_U")
_END = object()


def prefetched(
    items: Iterable[_T], transform: Callable[[_T], _U] | None = None
) -> Iterator[_T | _U]:
    """Yield ``items`` (through ``transform``) while a background thread makes the next one.

    For a GPU that would otherwise wait for the next batch's disk read and host copy: the
    order is unchanged, and an exception in the reader is raised where its item would have
    been yielded.

    Parameters
    ----------
    items : iterable
        Produced one ahead, on a worker thread.
    transform : callable, optional
        Also applied on the worker thread (e.g. copying into pinned memory).
    """
    it = iter(items)

    def produce():
        item = next(it, _END)
        return item if item is _END or transform is None else transform(item)

    with ThreadPoolExecutor(1, thread_name_prefix="rnnoise-kit-data") as pool:
        pending = pool.submit(produce)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(produce)
            yield item


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """Permutation of ``n`` training sequences for ``epoch`` (0-based), seeded by ``(seed, epoch)``.

    Parameters
    ----------
    n : int
        Number of training sequences.
    seed : int
        Run seed.
    epoch : int
        Epoch index; each gets an independent shuffle.

    Returns
    -------
    numpy.ndarray
        int64 permutation of ``range(n)``.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)]).permutation(n)


class SequenceData:
    """Sequences of a training matrix, read batch by batch.

    Parameters
    ----------
    path : path-like
        ``.h5`` (dataset ``/data``, shape (rows, columns)), ``.f32`` (rows of ``columns``
        float32) or a sharded matrix's folder (:mod:`rnnoise_kit.training.sharded`).
    window : int
        Frames per sequence (``rnn_train.py``: 2000).
    val_split : float
        Share of the sequences held out, at the end (Keras ``validation_split``).
    columns : int
        Row width: 87 (v0.1 rows, the default) or 98 (0.2 rows).

    Raises
    ------
    InputError
        Missing file, not ``columns`` columns, or fewer rows than one window.

    Attributes
    ----------
    rows, n_sequences, n_train, n_val : int
    """

    def __init__(self, path: str | os.PathLike, window: int, val_split: float = 0.1,
                 columns: int = ROW):
        if window < 1:
            raise InputError(None, f"window must be at least 1 frame (got {window})")
        if not 0.0 <= val_split < 1.0:
            raise InputError(None, f"validation split must be in [0, 1) (got {val_split})")
        reader = MatrixReader(path, columns)
        self.path = Path(path)
        self.columns = reader.columns
        self.h5 = reader.h5
        self._sharded = reader.sharded
        self.rows = reader.rows
        self.window = int(window)
        self.n_sequences = self.rows // self.window
        if self.n_sequences < 1:
            raise InputError(
                self.path, f"{self.rows} rows, fewer than one {self.window}-frame window"
            )
        split = int(self.n_sequences * (1.0 - val_split))
        if split < 1:  # one sequence: train on it, no validation
            split = self.n_sequences
        self.n_train = split
        self.n_val = self.n_sequences - split
        self._h5file: h5py.File | None = None
        self._fd: int | None = None

    # ----------------------------------------------------------------- resources
    def _open(self) -> None:
        if self._sharded is not None:
            return
        if self.h5:
            if self._h5file is None:
                self._h5file = h5py.File(self.path, "r")
                self._dset = self._h5file["data"]
        elif self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def close(self) -> None:
        """Close the file (reopened on the next read)."""
        if self._sharded is not None:
            self._sharded.close()
        if self._h5file is not None:
            self._h5file.close()
            self._h5file = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SequenceData:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    # ----------------------------------------------------------------- reading
    def read(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """Sequences by index, in the order given.

        Parameters
        ----------
        indices : array of int
            Sequence numbers in ``[0, n_sequences)``.

        Returns
        -------
        numpy.ndarray
            float32, shape (len(indices), window, columns). Read in ascending index order (one
            contiguous slice per sequence), returned in the order given.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_sequences):
            raise IndexError("sequence index out of range")
        self._open()
        out = np.empty((idx.size, self.window, self.columns), dtype=np.float32)
        w = self.window
        for j in np.argsort(idx, kind="stable"):
            i = int(idx[j])
            if self._sharded is not None:
                self._sharded.read_into(i * w, out[j])
            elif self.h5:
                self._dset.read_direct(out, np.s_[i * w : (i + 1) * w], np.s_[j])
            else:
                buf = memoryview(out[j]).cast("B")
                off = i * w * self.columns * 4
                got = 0
                while got < len(buf):
                    n = os.preadv(self._fd, [buf[got:]], off + got)
                    if n <= 0:
                        raise InputError(self.path, "file shrank while training")
                    got += n
        if self._sharded is None and not self.h5 and out.dtype.byteorder == ">":  # pragma: no cover
            out.byteswap(inplace=True)
        return out

    def train_batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
        """Batches of shuffled training sequences for one epoch (the last may be smaller)."""
        order = epoch_order(self.n_train, seed, epoch)
        for a in range(0, self.n_train, batch_size):
            yield self.read(order[a : a + batch_size])

    def val_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Batches of the validation sequences, in order."""
        for a in range(self.n_train, self.n_sequences, batch_size):
            yield self.read(np.arange(a, min(a + batch_size, self.n_sequences)))

    def n_train_batches(self, batch_size: int) -> int:
        """Number of training batches per epoch."""
        return -(-self.n_train // batch_size)
