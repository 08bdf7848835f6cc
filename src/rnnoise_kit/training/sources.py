"""Speech and noise sources for the training-matrix generator.

A source is the endless int16 stream ``denoise_training`` reads with ``fread`` and rewinds at
end of file. It can be

* a ``.raw`` file (headerless little-endian int16, 48 kHz mono), read through ``np.memmap``;
* any audio file soundfile reads;
* a folder of audio files (scanned recursively, natural-sort order, see
  :mod:`rnnoise_kit.audio.scan`). The files are concatenated in that order, **on the fly**:
  nothing is decoded up front and no intermediate ``.raw`` file is written.

Every file is mixed down to mono, resampled to 48 kHz with soxr and rounded to int16 (the
``.raw`` files RNNoise's recipe prepares hold int16, and the VAD target uses the int16
energies), so a 48 kHz 16-bit mono WAV gives exactly the samples of its ``.raw`` twin. A file
at another rate contributes ``round(frames * 48000 / rate)`` samples (its decoded and
resampled audio is cut or zero-padded to that length, so the length table computed from the
headers alone stays exact).

Sources are picklable (open handles and decoded caches are dropped) so that worker
processes open their own.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnoise_kit.audio.io import (
    RAW_SUFFIXES,
    SAMPLE_RATE,
    audio_info,
    read_audio,
    resample,
    to_int16,
    to_mono,
)
from rnnoise_kit.dsp.constants import FRAME_SIZE
from rnnoise_kit.errors import AudioError, InputError
from rnnoise_kit.fileio import sha256_file

_REMAP_SAMPLES = 32 << 20
"""Samples read through one memory map of a ``.raw`` file before it is mapped afresh."""


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: str  # "raw" | "direct" (48 kHz, seekable) | "decode" (decoded whole, resampled)
    rate: int
    channels: int
    frames: int  # frames in the file at its own rate
    length: int  # samples contributed at 48 kHz
    pcm16: bool = False  # 16-bit PCM: read as int16 directly


@dataclass
class Source:
    """An int16 48 kHz stream made of one or more files, concatenated in order.

    Use :func:`open_source` to build one. ``read(pos, n)`` returns samples ``pos..pos+n-1``
    of the concatenation (``0 <= pos``, ``pos + n <= length``) as int16.
    """

    path: str
    is_folder: bool
    entries: list[_Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.offsets = np.cumsum([0] + [e.length for e in self.entries]).tolist()
        self.length = int(self.offsets[-1])
        self._cache: dict[int, object] = {}
        self._mapped_reads = 0

    # -- pickling: drop handles and decoded audio
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    def close(self) -> None:
        """Close open files and drop decoded audio (reading reopens them)."""
        for obj in self._cache.values():
            if isinstance(obj, sf.SoundFile):
                obj.close()
        self._cache.clear()

    def read(self, pos: int, n: int) -> np.ndarray:
        """Samples ``[pos, pos + n)`` of the stream as int16 (no wrap-around)."""
        if pos < 0 or pos + n > self.length:
            raise ValueError(f"read({pos}, {n}) outside a {self.length}-sample source")
        if len(self.entries) == 1:
            return self._read_entry(0, pos, n)
        out = np.empty(n, dtype=np.int16)
        done = 0
        i = bisect.bisect_right(self.offsets, pos) - 1
        while done < n:
            start = pos + done - self.offsets[i]
            take = min(n - done, self.entries[i].length - start)
            if take > 0:
                out[done : done + take] = self._read_entry(i, start, take)
                done += take
            i += 1
        return out

    def _read_entry(self, i: int, start: int, n: int) -> np.ndarray:
        e = self.entries[i]
        if e.kind == "raw":
            mm = self._cache.get(i)
            if mm is None or self._mapped_reads > _REMAP_SAMPLES:
                # a fresh map now and then: the pages a long run touched leave our RSS
                self._cache.pop(i, None)
                mm = np.memmap(e.path, dtype="<i2", mode="r", shape=(e.length,))
                self._cache[i] = mm
                self._mapped_reads = 0
            self._mapped_reads += n
            return np.array(mm[start : start + n], dtype=np.int16)
        if e.kind == "direct":
            f = self._cache.get(i)
            if f is None:
                try:
                    f = sf.SoundFile(e.path)
                except Exception as exc:
                    raise AudioError(e.path, f"cannot be read any more ({exc})") from exc
                self._cache[i] = f
            f.seek(start)
            if e.pcm16 and e.channels == 1:
                raw = f.read(n, dtype="int16")
                if raw.shape[0] < n:
                    raw = np.concatenate([raw, np.zeros(n - raw.shape[0], np.int16)])
                return raw
            data = f.read(n, dtype="float64", always_2d=True)
            if data.shape[0] < n:  # header promised more than the file holds
                data = np.concatenate([data, np.zeros((n - data.shape[0], data.shape[1]))])
            return to_int16(to_mono(data) if data.shape[1] > 1 else data[:, 0])
        audio = self._cache.get(i)
        if audio is None:
            for key in [k for k, v in self._cache.items() if isinstance(v, np.ndarray)
                        and not isinstance(v, np.memmap)]:
                del self._cache[key]  # keep one decoded file at a time
            audio = _decode(e)
            self._cache[i] = audio
        return audio[start : start + n]

    def any_nonzero(self, block: int = 1 << 20) -> bool:
        """Whether the stream holds a non-zero sample (stops at the first one)."""
        for pos in range(0, self.length, block):
            if np.any(self.read(pos, min(block, self.length - pos))):
                return True
        return False

    def describe(self, *, hashes: bool = True) -> dict:
        """Metadata for the output's attributes: path, kind, files, length, sha256.

        For a folder, ``sha256`` is the digest of the manifest lines ``"<sha256>  <relpath>"``
        of the files used, in order.
        """
        d = {
            "path": self.path,
            "kind": "folder" if self.is_folder else self.entries[0].kind,
            "files": len(self.entries),
            "skipped": len(self.skipped),
            "samples_48k": self.length,
        }
        if hashes:
            if self.is_folder:
                h = hashlib.sha256()
                for e in self.entries:
                    rel = os.path.relpath(e.path, self.path)
                    h.update(f"{sha256_file(e.path)}  {rel}\n".encode())
                d["sha256"] = h.hexdigest()
            else:
                d["sha256"] = sha256_file(self.entries[0].path)
        return d


def _decode(e: _Entry) -> np.ndarray:
    try:
        audio, rate, _ = read_audio(e.path)
    except InputError as exc:
        raise AudioError(e.path, f"cannot be decoded ({exc.problem})") from exc
    mono = to_mono(audio) if audio.shape[1] > 1 else audio[:, 0]
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate, SAMPLE_RATE)
    out = to_int16(mono)
    if out.size != e.length:
        fixed = np.zeros(e.length, dtype=np.int16)
        fixed[: min(e.length, out.size)] = out[: e.length]
        out = fixed
    return out


_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
"""Subtypes that can store NaN or infinity (integer PCM cannot)."""


def _check_finite(path: Path) -> None:
    """Raise AudioError if a float file holds NaN or infinite samples (read block by block)."""
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(blocksize=1 << 16, dtype="float64", always_2d=True):
                if not np.isfinite(block).all():
                    raise AudioError(path, "contains NaN or infinite samples")
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"cannot be read ({exc})") from exc


def _entry(path: Path) -> _Entry:
    """Describe one file from its header; raises AudioError when unusable.

    Float files are also read once here, so that NaN or infinite samples are refused before
    any row is generated (as every other command refuses them), not cast into the matrix.
    """
    info = audio_info(path)  # raises AudioError (missing, not audio)
    if path.suffix.lower() in RAW_SUFFIXES:
        return _Entry(str(path), "raw", SAMPLE_RATE, 1, info.frames, info.frames)
    if info.frames <= 0:
        raise AudioError(path, "contains no samples")
    if info.subtype in _FLOAT_SUBTYPES:
        _check_finite(path)
    if info.sample_rate == SAMPLE_RATE and info.format not in ("MPEG", "OGG"):
        return _Entry(str(path), "direct", SAMPLE_RATE, info.channels, info.frames, info.frames,
                      info.subtype == "PCM_16")
    length = (info.frames * SAMPLE_RATE + info.sample_rate // 2) // info.sample_rate
    return _Entry(str(path), "decode", info.sample_rate, info.channels, info.frames, length)


def _what(role: str) -> str:
    return f"{role} source: " if role else ""


def open_source(path: str | os.PathLike, role: str = "") -> Source:
    """Open a speech or noise source (``.raw`` file, audio file or folder).

    Parameters
    ----------
    path : path-like
    role : str
        ``"speech"`` or ``"noise"``, named in messages.

    Returns
    -------
    Source
        Its ``skipped`` lists the folder's files that were left out, with reasons.

    Raises
    ------
    InputError
        Missing, unreadable, empty, a folder with no usable file, or fewer samples than one
        480-sample frame.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, f"{_what(role)}no such file or folder")
    if p.is_dir():
        from rnnoise_kit.audio.scan import scan_audio

        files, skipped = scan_audio([p])
        entries: list[_Entry] = []
        skip = [(str(s.path), s.reason) for s in skipped]
        for f in files:
            try:
                e = _entry(f)
            except InputError as exc:
                skip.append((str(f), exc.problem))
                continue
            if e.length > 0:
                entries.append(e)
            else:
                skip.append((str(f), "contains no samples"))
        if not entries:
            raise InputError(p, f"{_what(role)}folder holds no usable audio file")
        src = Source(str(p), True, entries, skip)
    else:
        e = _entry(p)
        if e.length == 0:
            raise AudioError(p, f"{_what(role)}contains no samples")
        src = Source(str(p), False, [e])
    if src.length < FRAME_SIZE:
        raise InputError(
            p, f"{_what(role)}{src.length} samples, fewer than one {FRAME_SIZE}-sample frame"
        )
    return src
