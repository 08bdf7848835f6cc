"""Read, write and resample audio with soundfile and soxr.

Conventions
-----------
* Inside rnnoise-kit, audio handed to the DSP is float32 in **int16 scale** (about +-32768),
  as RNNoise's C tools see it. :func:`read_mono_48k` returns that.
* :func:`read_audio` returns float64 in [-1, 1] with shape (n, channels), plus the rate and
  soundfile's subtype, so writers can keep the input's format.
* ``.raw`` files are headerless little-endian int16 mono at 48 kHz (the C tools' format).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rnnoise_kit.errors import AudioError, OutputError
from rnnoise_kit.fileio import atomic_path, write_problem

SAMPLE_RATE = 48000
"""The only rate the RNNoise DSP runs at."""

INT16_SCALE = 32768.0
"""Float audio in [-1, 1] is multiplied by this to reach the C tools' int16 scale."""

RAW_SUFFIXES = (".raw", ".sw")
"""Headerless 48 kHz s16 mono (little-endian) audio: ``.raw``, and ``.sw`` as RNNoise's
training inputs are named."""
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64",
     *RAW_SUFFIXES, ".opus"}
)
"""File suffixes that folder scans treat as audio (``.raw``, ``.sw``: 48 kHz s16 mono)."""


_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3,
                 "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}
"""Bytes per stored sample of the uncompressed subtypes."""
_COMPRESSED_FORMATS = frozenset({"FLAC", "OGG", "MPEG"})
"""Containers whose subtype names the decoded width, not the stored one (FLAC's PCM_16)."""

MAX_SAMPLES_PER_BYTE = 1 << 14
"""No compressed file decodes to more samples per stored byte than this: FLAC's densest frame
(a constant 65,535-sample block) stores about 5,000. A header that claims more is a lie that
would make the reader allocate what it claims, so the count is capped by the file's size."""


def _frames_bound(path: Path, channels: int, subtype: str, fmt: str) -> int:
    """Most frames ``path`` can hold, from its size (uncompressed: exactly)."""
    size = path.stat().st_size
    width = None if fmt in _COMPRESSED_FORMATS else _SAMPLE_BYTES.get(subtype)
    if width is not None:
        return size // (max(1, channels) * width)
    return size * MAX_SAMPLES_PER_BYTE // max(1, channels)


@dataclass(frozen=True)
class AudioInfo:
    """What soundfile says about a file: rate, channels, frames and subtype."""

    sample_rate: int
    channels: int
    frames: int
    subtype: str
    format: str


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Describe an audio file without decoding it (``.raw``: 48 kHz s16 mono)."""
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in RAW_SUFFIXES:
        size = path.stat().st_size
        return AudioInfo(SAMPLE_RATE, 1, size // 2, "PCM_16", "RAW")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for non-audio data
        raise AudioError(path, f"not a readable audio file ({_short(exc)})") from exc
    frames = min(info.frames, _frames_bound(path, info.channels, info.subtype, info.format))
    return AudioInfo(info.samplerate, info.channels, frames, info.subtype, info.format)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else type(exc).__name__
    # soundfile repeats the path in its messages; keep the reason only
    return msg.split(": ", 1)[-1] if "Error opening" in msg else msg


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, str]:
    """Read an audio file.

    Parameters
    ----------
    path : path-like
        Anything soundfile reads (wav, flac, ogg, mp3, ...) or a ``.raw`` s16 48 kHz mono file.

    Returns
    -------
    audio : np.ndarray, float64, shape (n, channels)
        Samples in [-1, 1].
    sample_rate : int
    subtype : str
        soundfile's subtype (``"PCM_16"``, ``"FLOAT"``, ...), to write outputs alike.

    Raises
    ------
    AudioError
        Missing, unreadable, empty, or containing NaN/inf samples.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in RAW_SUFFIXES:
        data = np.fromfile(path, dtype="<i2")
        audio = (data.astype(np.float64) / INT16_SCALE)[:, None]
        rate, subtype = SAMPLE_RATE, "PCM_16"
    else:
        try:
            with sf.SoundFile(str(path)) as f:
                # never more than the file can hold: the reader allocates what is asked
                frames = min(f.frames, _frames_bound(path, f.channels, f.subtype, f.format))
                audio = f.read(frames, dtype="float64", always_2d=True)
                rate, subtype = f.samplerate, f.subtype
        except Exception as exc:
            raise AudioError(path, f"not a readable audio file ({_short(exc)})") from exc
    if audio.shape[0] == 0:
        raise AudioError(path, "contains no samples")
    if not np.isfinite(audio).all():
        raise AudioError(path, "contains NaN or infinite samples")
    return audio, int(rate), subtype


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` in double (0 for an empty array)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mix (n, channels) down to (n,) by averaging channels; (n,) passes through."""
    audio = np.asarray(audio)
    return audio if audio.ndim == 1 else audio.mean(axis=1)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample with soxr (high quality). Shape (n,) or (n, channels); dtype kept float."""
    if rate_in == rate_out:
        return audio
    return soxr.resample(audio, rate_in, rate_out, quality="HQ")


def read_mono_48k(path: str | os.PathLike, *, notes: list[str] | None = None) -> np.ndarray:
    """Read a file as the DSP wants it: mono, 48 kHz, float32 in int16 scale.

    Parameters
    ----------
    path : path-like
    notes : list of str, optional
        When given, a one-line note is appended for each conversion made (mix-down,
        resampling), so commands can tell the user.

    Returns
    -------
    np.ndarray, float32, shape (n,)
    """
    audio, rate, _ = read_audio(path)
    if audio.shape[1] > 1:
        if notes is not None:
            notes.append(f"{path}: mixed {audio.shape[1]} channels down to mono")
        audio = to_mono(audio)
    else:
        audio = audio[:, 0]
    if rate != SAMPLE_RATE:
        if notes is not None:
            notes.append(f"{path}: resampled {rate} Hz -> {SAMPLE_RATE} Hz (soxr)")
        audio = resample(audio, rate, SAMPLE_RATE)
    return (audio * INT16_SCALE).astype(np.float32)


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
) -> None:
    """Write audio atomically (temp file, then rename). Float data is in [-1, 1].

    ``.raw`` writes little-endian int16 (clipped, rounded); any other suffix goes to
    soundfile, with ``subtype`` (default: soundfile's default for the format). Float data
    stored as 16-bit PCM is rounded and clipped here, not by libsndfile, which truncates in some
    containers (WAV) and rounds in others (FLAC): every format holds the same samples, and
    ``read_audio`` gives back exactly what was written when it was on the 16-bit grid.
    """
    path = Path(path)
    fmt = check_audio_output(path)
    with atomic_path(path) as tmp:
        data = np.asarray(audio)
        if fmt == "RAW":
            to_int16(data).astype("<i2").tofile(tmp)
            return
        stored = subtype
        if stored is None:
            try:
                stored = sf.default_subtype(fmt)
            except (ValueError, TypeError):  # soundfile names the problem below
                stored = None
        if stored == "PCM_16" and data.dtype.kind == "f":
            data = to_int16(data)
        try:
            sf.write(str(tmp), data, sample_rate, subtype=subtype, format=fmt)
        except sf.LibsndfileError as exc:  # no errno: a full disk reads "System error"
            raise OutputError(path, write_problem(exc, path)) from exc


def check_audio_output(path: str | os.PathLike) -> str:
    """The format an audio output's suffix names (``"WAV"``, ..., ``"RAW"`` for ``.raw``).

    Raises
    ------
    OutputError
        No suffix, or one that names no format soundfile writes.
    """
    path = Path(path)
    fmt = "RAW" if path.suffix.lower() in RAW_SUFFIXES else format_for(path)
    if fmt != "RAW" and (fmt is None or fmt not in sf.available_formats()):
        raise OutputError(path, "unknown audio format: the output name must end in a suffix "
                                "such as .wav, .flac, .ogg or .raw")
    return fmt


def round_to_int(scaled: np.ndarray, dtype: np.dtype | type = np.int16) -> np.ndarray:
    """Samples already in an integer format's scale to that format: rounded half to even,
    clipped to its range. The rounding rule of every float-to-PCM conversion here.

    Parameters
    ----------
    scaled : np.ndarray
        Float, any shape (int16 scale for ``int16``: about +-32768).
    dtype : integer dtype

    Returns
    -------
    np.ndarray
        ``dtype``, same shape.
    """
    info = np.iinfo(dtype)
    return np.clip(np.rint(scaled), info.min, info.max).astype(dtype)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16: scaled by 32768, rounded half to even, clipped.

    Exact for 16-bit PCM read as float (``read_audio``); int16 input is returned as it is.

    Parameters
    ----------
    audio : np.ndarray
        Float (any shape) or int16.

    Returns
    -------
    np.ndarray
        int16, same shape.
    """
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        return audio
    return round_to_int(audio * INT16_SCALE)


def format_for(path: str | os.PathLike) -> str | None:
    """soundfile's format name for an output path, from its suffix (``.oga`` -> ``OGG``)."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    return {"oga": "OGG", "opus": "OGG", "aif": "AIFF"}.get(ext, ext.upper() or None)
