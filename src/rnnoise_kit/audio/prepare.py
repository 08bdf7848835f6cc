"""``rnnoise-kit prepare``: concatenate a dataset into one 48 kHz s16 mono ``.raw`` file.

This replaces step 3 of the manual RNNoise recipe (``prepare_dataset_for_training.py``):
every audio file under the sources (see :mod:`rnnoise_kit.audio.scan`) is mixed down to
mono, resampled to 48 kHz with soxr, converted to int16 (``round(x * 32768)``, values out
of range clipped and counted) and appended, in natural-sort order, to the output.

Files that cannot be used are skipped and listed (``strict=True`` makes them fatal). The
output is written under a temporary name and renamed at the end, so an interrupted run
leaves nothing behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnoise_kit.audio.io import (
    INT16_SCALE,
    SAMPLE_RATE,
    read_audio,
    resample,
    round_to_int,
    to_mono,
)
from rnnoise_kit.audio.scan import SkippedFile, scan_audio
from rnnoise_kit.errors import InputError, OutputError, SettingError
from rnnoise_kit.fileio import atomic_paths, check_outputs, check_suffix, write_problem
from rnnoise_kit.parallel import check_scheduler, open_executor
from rnnoise_kit.progress import progress_bar


@dataclass(frozen=True)
class PreparedFile:
    """One input as it lies in the output: where it starts and how long it is (48 kHz)."""

    path: Path
    offset: int
    """First sample of this file in the output."""
    samples: int
    source_rate: int
    channels: int
    clipped: int
    """Samples clipped to the int16 range."""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples / SAMPLE_RATE


@dataclass
class PrepareReport:
    """What :func:`prepare` wrote."""

    output: Path
    files: list[PreparedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    manifest: Path | None = None
    preview: Path | None = None

    @property
    def total_samples(self) -> int:
        """Samples in the output (48 kHz mono)."""
        return sum(f.samples for f in self.files)

    @property
    def duration(self) -> float:
        """Length of the output in seconds."""
        return self.total_samples / SAMPLE_RATE

    @property
    def clipped(self) -> int:
        """Samples clipped to the int16 range, all files together."""
        return sum(f.clipped for f in self.files)

    def to_dict(self) -> dict:
        """The manifest's content (JSON-ready)."""
        return {
            "output": str(self.output),
            "format": "raw s16le mono",
            "sample_rate": SAMPLE_RATE,
            "total_samples": self.total_samples,
            "duration": self.duration,
            "clipped_samples": self.clipped,
            "files": [
                {**asdict(f), "path": str(f.path), "duration": f.duration} for f in self.files
            ],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
        }


def preview_path(output: str | os.PathLike) -> Path:
    """Where ``--preview`` writes: ``OUT.raw`` -> ``OUT.preview.wav`` beside it."""
    output = Path(output)
    return output.with_name(output.stem + ".preview.wav")


def to_int16_counting_clips(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """Float [-1, 1] to int16 (``round(x * 32768)``, clipped).

    Returns
    -------
    pcm : np.ndarray, int16
    clipped : int
        How many samples fell outside the int16 range.
    """
    rounded = np.rint(np.asarray(audio, dtype=np.float64) * INT16_SCALE)
    pcm = round_to_int(rounded)
    return pcm, int(np.count_nonzero(pcm != rounded))


def decode_file(path: str | os.PathLike) -> tuple[np.ndarray, int, int, int]:
    """Read one file as 48 kHz mono int16.

    Returns
    -------
    pcm : np.ndarray, int16
    clipped : int
    source_rate : int
    channels : int

    Raises
    ------
    AudioError
        Unreadable, empty or non-finite.
    """
    audio, rate, _ = read_audio(path)
    channels = audio.shape[1]
    mono = to_mono(audio)
    mono = resample(mono, rate, SAMPLE_RATE)
    if mono.size == 0:
        raise InputError(path, "contains no samples after resampling to 48 kHz")
    pcm, clipped = to_int16_counting_clips(mono)
    return pcm, clipped, rate, channels


def _decode_or_reason(path: Path) -> tuple[np.ndarray, int, int, int] | str:
    """Worker: the decoded file, or the one-line reason it cannot be used."""
    try:
        return decode_file(path)
    except InputError as exc:
        return exc.problem
    except Exception as exc:  # a decoder failing in an unforeseen way: skip, not crash
        return f"cannot decode ({type(exc).__name__}: {exc})"


def _decode_job(context: None, path: Path) -> tuple[np.ndarray, int, int, int] | str:
    """Executor job: one file decoded (:mod:`rnnoise_kit.parallel`)."""
    return _decode_or_reason(path)


def prepare(
    sources: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    manifest: str | os.PathLike | None = None,
    jobs: int = 1,
    preview: int = 0,
    strict: bool = False,
    scheduler: str | None = None,
) -> PrepareReport:
    """Concatenate every audio file under ``sources`` into one 48 kHz s16 mono raw file.

    Parameters
    ----------
    sources : sequence of path-like
        Audio files and folders (scanned recursively, natural-sort order per source).
    output : path-like
        The ``.raw`` file to write (headerless little-endian int16, 48 kHz, mono).
    manifest : path-like, optional
        JSON file listing each input with its offset (samples) and duration in the output,
        plus the skipped files with reasons.
    jobs : int
        Decoding processes (1: decode in this process).
    preview : int
        When > 0, also write the first ``preview`` files as a WAV beside the output
        (:func:`preview_path`) for listening.
    strict : bool
        Make any skipped file fatal (nothing is written).
    scheduler : str, optional
        Decode on a Dask cluster instead (``"local:N"`` or a scheduler address, see
        :mod:`rnnoise_kit.parallel`); the output is the same.

    Returns
    -------
    PrepareReport

    Raises
    ------
    InputError
        A source is missing, no file is usable, or (``strict``) some file is not.
    """
    if not sources:
        raise InputError(None, "no sources given")
    if jobs < 1:
        raise SettingError("jobs", f"must be at least 1 (got {jobs})")
    if preview < 0:
        raise SettingError("preview", f"must be 0 or more (got {preview})")
    check_scheduler(scheduler)
    output = Path(output)
    if output.is_dir():
        raise InputError(output, "is a folder; give the .raw file to write")
    prev_path = preview_path(output) if preview else None
    own = [p for p in (output, prev_path, manifest) if p is not None]
    check_outputs(own, sources)
    check_suffix(output, (".raw",), "headerless 48 kHz s16 mono audio")
    if manifest is not None:
        check_suffix(manifest, (".json",), "a JSON manifest")
    files, skipped = scan_audio(sources, exclude=own)
    if strict and skipped:
        raise InputError(skipped[0].path, f"{skipped[0].reason} (strict: "
                         f"{len(skipped)} unusable file(s), nothing written)")
    if not files:
        where = ", ".join(str(s) for s in sources)
        raise InputError(None, f"no usable audio files in {where}")

    report = PrepareReport(output=output, skipped=list(skipped))
    preview_parts: list[np.ndarray] = []
    offset = 0
    # the .raw, its preview and its manifest appear together or not at all
    # forkserver: local workers start from a clean process, not a fork of this threaded one
    # (rich's refresh thread, BLAS threads); Python 3.14 makes it the default on Linux.
    executor = open_executor(min(jobs, len(files)), scheduler, start_method="forkserver")
    with (executor, atomic_paths(own) as temps, progress_bar(len(files), "prepare") as bar):
        with open(temps[0], "wb") as fh:
            decoded = executor.map(_decode_job, files)
            for path, result in zip(files, decoded, strict=True):
                bar.advance(1)
                if isinstance(result, str):
                    if strict:
                        raise InputError(path, f"{result} (strict: nothing written)")
                    report.skipped.append(SkippedFile(path, result))
                    continue
                pcm, clipped, rate, channels = result
                fh.write(pcm.astype("<i2", copy=False).tobytes())
                report.files.append(PreparedFile(path, offset, int(pcm.size), rate, channels,
                                                 clipped))
                offset += int(pcm.size)
                if len(preview_parts) < preview:
                    preview_parts.append(pcm)
            if not report.files:
                raise InputError(None, "no usable audio files: every file was skipped "
                                 f"(first: {report.skipped[0]})")
        if prev_path is not None:
            try:
                sf.write(str(temps[1]), np.concatenate(preview_parts), SAMPLE_RATE,
                         subtype="PCM_16", format="WAV")
            except sf.LibsndfileError as exc:  # no errno: a full disk reads "System error"
                raise OutputError(prev_path, write_problem(exc, prev_path)) from exc
            report.preview = prev_path
        if manifest is not None:
            report.manifest = Path(manifest)
            temps[-1].write_text(json.dumps(report.to_dict(), indent=2) + "\n",
                                 encoding="utf-8")
    return report
