"""The 0.2 weight blob: named arrays back to back, each behind a 64-byte header.

Record layout (spec rnnoise-v0.2 section 8; ``parse_weights`` in upstream's
``parse_lpcnet_weights.c``), little-endian, no file header::

    char    head[4]     "DNNw"
    int32   version     0
    int32   type        0 float32, 1 int32, 2 qweight (unused here), 3 int8
    int32   size        payload bytes (> 0)
    int32   block_size  size rounded up to a multiple of 64
    char    name[44]    NUL-padded, last byte NUL
    payload             block_size bytes: size bytes of data, then zeros

This module only splits and joins records; which arrays a model needs, and their sizes, are
checked by the model layer built on top.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass

import numpy as np

from rnnoise_kit.errors import ModelFormatError

BLOB_MAGIC = b"DNNw"
RECORD_HEADER_SIZE = 64
NAME_SIZE = 44
_HEADER = struct.Struct("<4siiii44s")
_ALIGN = 64


class WeightType(enum.IntEnum):
    """The ``type`` field of a record (``WEIGHT_TYPE_*`` in upstream's nnet.h)."""

    FLOAT = 0
    INT = 1
    QWEIGHT = 2
    INT8 = 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({0: "<f4", 1: "<i4", 2: "u1", 3: "i1"}[int(self)])


@dataclass(frozen=True)
class WeightRecord:
    """One named array of a 0.2 model.

    Attributes
    ----------
    name : str
        Array name as in ``rnnoise_arrays`` (e.g. ``"gru1_input_weights_int8"``).
    type : WeightType
    data : np.ndarray, 1-D
        Payload, dtype ``type.dtype`` (float32, int32 or int8), in file order.
    """

    name: str
    type: WeightType
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


def _fail(path, problem: str, place: str | None = None) -> ModelFormatError:
    return ModelFormatError(path, problem, place)


def parse_blob(data: bytes, path: str | os.PathLike | None = None) -> list[WeightRecord]:
    """Split a weight blob into its records, in file order.

    Parameters
    ----------
    data : bytes
        The whole blob.
    path : path-like, optional
        Named in error messages.

    Returns
    -------
    list of WeightRecord

    Raises
    ------
    ModelFormatError
        Bad magic or version, unknown type, size <= 0, block size not the aligned size, a
        payload running past the end, a size that is not a whole number of elements, a
        duplicate name, or no record at all; the message names the record.
    """
    records: list[WeightRecord] = []
    seen: set[str] = set()
    pos = 0
    n = len(data)
    while pos < n:
        index = len(records)
        where = f"record {index} at byte {pos}"
        if n - pos < RECORD_HEADER_SIZE:
            raise _fail(path, f"truncated header ({n - pos} of {RECORD_HEADER_SIZE} bytes)", where)
        magic, version, wtype, size, block, raw_name = _HEADER.unpack_from(data, pos)
        if magic != BLOB_MAGIC:
            raise _fail(path, f"not a weight record (magic {magic!r}, expected 'DNNw')", where)
        if raw_name[-1] != 0:
            raise _fail(path, "name is not NUL-terminated", where)
        name = raw_name.split(b"\0", 1)[0].decode("ascii", "replace")
        where = f"array {name!r} ({where})"
        if version != 0:
            raise _fail(path, f"unsupported record version {version}", where)
        try:
            wt = WeightType(wtype)
        except ValueError:
            raise _fail(path, f"unknown weight type {wtype}", where) from None
        if size <= 0:
            raise _fail(path, f"size {size} must be positive", where)
        if block != size + (-size) % _ALIGN:
            raise _fail(path, f"block size {block} is not size {size} rounded up to 64", where)
        start = pos + RECORD_HEADER_SIZE
        if start + block > n:
            raise _fail(path, f"payload truncated ({n - start} of {block} bytes)", where)
        item = wt.dtype.itemsize
        if size % item:
            raise _fail(path, f"size {size} is not a multiple of {item}", where)
        if name in seen:
            raise _fail(path, "duplicate array name", where)
        seen.add(name)
        arr = np.frombuffer(data, dtype=wt.dtype, count=size // item, offset=start).copy()
        records.append(WeightRecord(name, wt, arr))
        pos = start + block
    if not records:
        raise _fail(path, "empty weight blob")
    return records


def format_blob(records: list[WeightRecord]) -> bytes:
    """Join records into a blob (what upstream's ``write_weights`` writes).

    Raises
    ------
    ValueError
        A name that does not fit 43 ASCII bytes, or an empty array.
    """
    parts: list[bytes] = []
    for rec in records:
        raw = rec.name.encode("ascii")
        if len(raw) >= NAME_SIZE:
            raise ValueError(f"array name {rec.name!r} is longer than {NAME_SIZE - 1} bytes")
        payload = np.ascontiguousarray(rec.data, dtype=rec.type.dtype).tobytes()
        if not payload:
            raise ValueError(f"array {rec.name!r} is empty")
        size = len(payload)
        block = size + (-size) % _ALIGN
        parts.append(_HEADER.pack(BLOB_MAGIC, 0, int(rec.type), size, block, raw))
        parts.append(payload + b"\0" * (block - size))
    return b"".join(parts)
