"""``rnnoise-kit compare``: denoise a test set with several models and score every output.

For every input file, the untouched noisy signal (row ``noisy``, the baseline) and the
output of every model are scored: intrusive metrics (PESQ wideband, STOI, eSTOI, SI-SDR,
segmental SNR; :mod:`~rnnoise_kit.evaluation.metrics`) where a clean reference exists, after
aligning the output to it; DNSMOS P.835 (:mod:`~rnnoise_kit.evaluation.dnsmos`) always; the
mean VAD probability and the denoising speed (x real time) for the models. Real recordings
without references (``real``) form a second set beside the test set, scored with DNSMOS and
VAD and reported in a table of their own. Files are
processed in parallel worker processes (``jobs``); each worker denoises, scores, and writes
the file's audio and spectrograms into the report folder. :mod:`~rnnoise_kit.evaluation.report`
then writes ``metrics.csv``, ``summary.json``, the charts and ``index.html``; with ``against``,
every row is also compared with that one file by file (:mod:`~rnnoise_kit.evaluation.paired`).
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.io import read_audio, resample, to_mono
from rnnoise_kit.audio.scan import SkippedFile, iter_source_files
from rnnoise_kit.errors import (
    InputError,
    OutputError,
    PartialFailure,
    RnnoiseKitError,
    SettingError,
)
from rnnoise_kit.evaluation import paired, report
from rnnoise_kit.evaluation._deps import require
from rnnoise_kit.evaluation.align import DEFAULT_MAX_LAG_S
from rnnoise_kit.evaluation.schema import BASELINE, CLEAN, REAL_SET, TEST_SET
from rnnoise_kit.fileio import install_tree, staging_folder
from rnnoise_kit.parallel import check_scheduler, open_executor
from rnnoise_kit.progress import progress_bar

_MODEL_SUFFIXES = (".rnnn", ".hdf5", ".h5", ".c", ".bin", ".pt", ".pth", ".ckpt", ".npz",
                   ".json")

DenoiserFactory = Callable[[str], object]
"""Builds a denoiser (an object with ``denoise(audio, rate) -> (denoised, vad)``) from a
``--model`` value; must be picklable (a module-level function) when ``jobs > 1``."""


@dataclass(frozen=True)
class ModelSpec:
    """One compared model: its row label and the value handed to the denoiser factory."""

    label: str
    spec: str


@dataclass(frozen=True)
class InputFile:
    """One test item: the noisy file, its clean reference (if any), its SNR (if known) and
    the set it belongs to (:data:`~rnnoise_kit.evaluation.schema.TEST_SET` or ``REAL_SET``)."""

    key: str
    name: str
    noisy: Path
    clean: Path | None = None
    snr: float | None = None
    set: str = TEST_SET


@dataclass
class CompareResult:
    """What :func:`compare` produced."""

    output: Path
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    files: list[InputFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    """What the scan of the noisy folder left out, with reasons."""
    models: list[ModelSpec] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- inputs


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def model_specs(models: Sequence[str]) -> list[ModelSpec]:
    """Row labels for ``--model`` values: ``LABEL=PATH``, a file's stem, or the name.

    A model may carry denoising options after its last ``@``
    (:func:`rnnoise_kit.denoise.split_model_spec`: ``std@12`` limits the attenuation to
    12 dB, ``std@mix=0.5`` mixes half of the input back in); the default label then ends in
    them (``std@12``). A ``LABEL`` never contains ``@``.

    Parameters
    ----------
    models : sequence of str

    Returns
    -------
    list of ModelSpec
        Labels are unique (``std``, ``std_2``, ...) and never ``noisy`` or ``clean``.
    """
    from rnnoise_kit.denoise import MODEL_OPTIONS_SEPARATOR, format_model_options, split_model_spec

    if not models:
        raise SettingError("models", "is empty: give at least one model")
    out: list[ModelSpec] = []
    used = {BASELINE, CLEAN}
    for value in models:
        label, spec = None, value
        head, sep, tail = value.partition("=")
        if (sep and head and "/" not in head and MODEL_OPTIONS_SEPARATOR not in head
                and not Path(value).exists()):
            label, spec = head, tail
        if label is None:
            model, options = split_model_spec(spec)
            p = Path(model)
            is_file = "/" in model or p.suffix.lower() in _MODEL_SUFFIXES or p.is_file()
            label = _safe(p.stem if is_file else model)
            if options:
                label += MODEL_OPTIONS_SEPARATOR + format_model_options(options)
        else:
            label = _safe(label)
        base, i = label, 2
        while label in used:
            label, i = f"{base}_{i}", i + 1
        used.add(label)
        out.append(ModelSpec(label, spec))
    return out


def _read_mix_csv(path: Path) -> dict[str, float]:
    snrs: dict[str, float] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                value = row.get("snr_db", row.get("snr"))
                name = row.get("file")
                if name and value not in (None, ""):
                    try:
                        snrs[name] = float(value)
                    except ValueError:
                        continue
    except (OSError, csv.Error) as exc:
        raise InputError(path, f"cannot read ({exc})") from exc
    return snrs


def find_inputs(testset: str | os.PathLike | None = None,
                noisy: str | os.PathLike | None = None,
                clean: str | os.PathLike | None = None,
                skipped: list[SkippedFile] | None = None) -> list[InputFile]:
    """List the test items of a ``mix`` folder (``testset``) or of a noisy folder.

    Parameters
    ----------
    testset : path-like, optional
        A folder made by ``rnnoise-kit mix``: ``noisy/``, ``clean/`` and ``mix.csv`` (SNRs).
    noisy, clean : path-like, optional
        Without ``testset``: a folder (or file) of noisy audio, scanned recursively, and an
        optional folder of clean references matched by relative path.
    skipped : list of SkippedFile, optional
        What the folder walk left out (links not followed, folders it cannot list) is
        appended here.

    Returns
    -------
    list of InputFile

    Raises
    ------
    InputError
        Missing folders or no audio found.
    """
    snrs: dict[str, float] = {}
    if testset is not None:
        root = Path(testset)
        if not root.is_dir():
            raise InputError(root, "no such test-set folder")
        noisy_dir, clean_dir = root / "noisy", root / "clean"
        if not noisy_dir.is_dir():
            raise InputError(root, "has no noisy/ folder (make one with rnnoise-kit mix)")
        if (root / "mix.csv").is_file():
            snrs = _read_mix_csv(root / "mix.csv")
        clean_root: Path | None = clean_dir if clean_dir.is_dir() else None
        noisy_root = noisy_dir
    else:
        if noisy is None:
            raise InputError(None, "give a test set folder (testset) or noisy audio (noisy)")
        noisy_root = Path(noisy)
        if not noisy_root.exists():
            raise InputError(noisy_root, "no such file or folder")
        clean_root = Path(clean) if clean is not None else None
        if clean_root is not None and not clean_root.exists():
            raise InputError(clean_root, "no such file or folder")
    try:
        paths = list(iter_source_files(noisy_root, skipped=skipped))
    except RnnoiseKitError:
        raise
    except OSError as exc:
        raise InputError(noisy_root, f"cannot list ({exc})") from exc
    if not paths:
        raise InputError(noisy_root, "no audio files found")
    items = []
    width = max(3, len(str(len(paths))))
    for i, p in enumerate(paths, 1):
        rel = p.relative_to(noisy_root) if noisy_root.is_dir() else Path(p.name)
        ref = None
        if clean_root is not None:
            cand = clean_root / rel if clean_root.is_dir() else clean_root
            ref = cand if cand.is_file() else None
        name = rel.as_posix()
        items.append(InputFile(key=f"{i:0{width}d}_{_safe(rel.with_suffix('').as_posix())}",
                               name=name, noisy=p, clean=ref,
                               snr=snrs.get(name, snrs.get(rel.name))))
    return items


def find_real_inputs(real: str | os.PathLike | Sequence[str | os.PathLike],
                     skipped: list[SkippedFile] | None = None) -> list[InputFile]:
    """List real recordings (files, or folders scanned recursively): the ``real`` set, no
    clean references. Names start with ``real/`` so that they never meet a test-set name.

    Raises
    ------
    InputError
        A missing path, or no audio found.
    """
    sources = [real] if isinstance(real, (str, os.PathLike)) else list(real)
    if not sources:
        raise InputError(None, "real recordings: give at least one file or folder")
    items: list[InputFile] = []
    for src in sources:
        for it in find_inputs(noisy=src, skipped=skipped):
            items.append(InputFile(key=f"real{len(items) + 1:03d}_{_safe(it.name)}",
                                   name=f"{REAL_SET}/{it.name}", noisy=it.noisy, set=REAL_SET))
    return items


def available_baselines() -> tuple[list[str], dict[str, str]]:
    """The public baselines a comparison can run here, and why the others cannot.

    ``std``, ``bd``, ``cb``, ``lq``, ``mp``, ``sh`` when intact in the model cache
    (``rnnoise-kit model get all``); ``rnnoise-0.2`` when cached or when pyrnnoise is
    installed (imported from it on first use).

    Returns
    -------
    names : list of str
        Registry names, in registry order.
    missing : dict
        Name to the reason it is left out.
    """
    import importlib.util

    from rnnoise_kit.model.registry import LIBRARY_MODELS, PUBLIC_MODELS, cache_status

    names, missing = [], {}
    for name in PUBLIC_MODELS:
        status = cache_status(name)
        if status == "ok":
            names.append(name)
        else:
            missing[name] = (f"{status} in the model cache (rnnoise-kit model get {name})")
    for name in LIBRARY_MODELS:
        if cache_status(name) == "ok" or importlib.util.find_spec("pyrnnoise") is not None:
            names.append(name)
        else:
            missing[name] = "pyrnnoise is not installed (pip install pyrnnoise)"
    return names, missing


# --------------------------------------------------------------------------- denoisers


def default_factory(spec: str) -> object:
    """Build the denoiser for a ``--model`` value (a model file or a public model name).

    Any model of either generation (``rnnoise-0.2`` and 0.2 ``.bin`` files included):
    ``rnnoise_kit.denoise.Denoiser(model, compensate_delay=True, **options)`` with the options
    of ``MODEL@OPTIONS`` (:func:`rnnoise_kit.denoise.split_model_spec`).
    """
    from rnnoise_kit.denoise import Denoiser, split_model_spec

    model, options = split_model_spec(spec)
    return Denoiser(model=model, compensate_delay=True, **options)


# --------------------------------------------------------------------------- worker

_CACHE: dict = {}


def _denoiser(factory: DenoiserFactory, spec: str) -> object:
    key = (getattr(factory, "__module__", ""), getattr(factory, "__qualname__", id(factory)),
           spec)
    if key not in _CACHE:
        dn = factory(spec)
        # one short call first, so that JIT compilation and lazy set-up do not count
        # against the speed measured on the first real file
        warm = np.random.default_rng(0).standard_normal(4800) * 0.01
        dn.denoise(warm, 48000)  # type: ignore[attr-defined]
        _CACHE[key] = dn
    return _CACHE[key]


def _dnsmos():
    if "dnsmos" not in _CACHE:
        from rnnoise_kit.evaluation.dnsmos import Dnsmos

        _CACHE["dnsmos"] = Dnsmos(threads=1)
    return _CACHE["dnsmos"]


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("RNNOISE_KIT_NO_PROGRESS", "1")


@dataclass(frozen=True)
class _Task:
    item: InputFile
    models: tuple[ModelSpec, ...]
    output: Path
    factory: DenoiserFactory
    max_lag_s: float
    spectrograms: bool
    audio_format: str


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64)), -1.0, 1.0)


def _score(row: dict, clean: np.ndarray | None, signal: np.ndarray, rate: int,
           max_lag_s: float) -> None:
    from rnnoise_kit.evaluation.metrics import intrusive_metrics

    row.update(_dnsmos()(signal, rate))
    if clean is not None:
        row.update(intrusive_metrics(clean, signal, rate, max_lag_s=max_lag_s))


def _process(task: _Task) -> tuple[str, list[dict], dict[str, str]]:
    """Denoise and score one file; returns (key, rows, {label: spectrogram data})."""
    item, out = task.item, task.output
    audio, rate, _ = read_audio(item.noisy)
    noisy = to_mono(audio)
    clean = None
    if item.clean is not None:
        c, c_rate, _ = read_audio(item.clean)
        clean = to_mono(c)
        if c_rate != rate:
            clean = resample(clean, c_rate, rate)
    duration = noisy.size / rate
    base = {"set": item.set, "file": item.name,
            "snr": math.nan if item.snr is None else item.snr, "duration": duration}
    signals: dict[str, np.ndarray] = {}
    rows = []
    row = {"model": BASELINE, **base}
    _score(row, clean, noisy, rate, task.max_lag_s)
    rows.append(row)
    signals[BASELINE] = noisy
    if clean is not None:
        signals[CLEAN] = clean
    for m in task.models:
        dn = _denoiser(task.factory, m.spec)
        t0 = time.perf_counter()
        den, vad = dn.denoise(noisy, rate)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - t0
        den = _clip(to_mono(np.asarray(den)))
        if den.size == 0:
            raise InputError(item.noisy, f"model {m.label} returned no samples")
        vad = np.asarray(vad, dtype=np.float64).reshape(-1)
        row = {"model": m.label, **base,
               "vad_mean": float(np.mean(vad)) if vad.size else math.nan,
               "x_realtime": duration / elapsed if elapsed > 0 else math.inf}
        _score(row, clean, den, rate, task.max_lag_s)
        rows.append(row)
        signals[m.label] = den
    media = report.write_file_media(out, item.key, signals, rate, task.spectrograms,
                                    task.audio_format)
    return item.key, rows, media


def _run_job(in_worker: bool, task: _Task) -> tuple[str, list[dict] | None, dict, str | None]:
    """Executor job (:mod:`rnnoise_kit.parallel`): one file, in a worker process or here."""
    if in_worker:
        _init_worker()
    return _run_one(task)


def _run_one(task: _Task) -> tuple[str, list[dict] | None, dict, str | None]:
    try:
        key, rows, media = _process(task)
        return key, rows, media, None
    except RnnoiseKitError as exc:
        return task.item.key, None, {}, str(exc)
    except MemoryError:
        return task.item.key, None, {}, "out of memory"
    except Exception as exc:  # a bug or a library error on one file must not stop the run
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({tb[-1].name}:{tb[-1].lineno})" if tb else ""
        return task.item.key, None, {}, f"{type(exc).__name__}: {exc}{where}"


# --------------------------------------------------------------------------- compare


def check_dependencies() -> None:
    """Raise :class:`InputError` (suggesting the ``eval`` extra) if a metric library is missing."""
    for mod in ("pesq", "pystoi", "onnxruntime", "matplotlib"):
        require(mod)
    from rnnoise_kit.evaluation.dnsmos import model_path

    model_path()


def compare(
    output: str | os.PathLike,
    models: Sequence[str],
    *,
    testset: str | os.PathLike | None = None,
    noisy: str | os.PathLike | None = None,
    clean: str | os.PathLike | None = None,
    real: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    jobs: int = 1,
    max_lag_s: float = DEFAULT_MAX_LAG_S,
    spectrograms: bool = True,
    audio_format: str = "flac",
    denoiser_factory: DenoiserFactory | None = None,
    scheduler: str | None = None,
    against: str | None = None,
) -> CompareResult:
    """Denoise every file with every model, score all outputs and write the report.

    Parameters
    ----------
    output : path-like
        Report folder (created). The report is built beside it and swapped in when complete:
        a previous report there is replaced whole; other files there stay. A folder holding
        ``audio/``, ``index.html``, ... that are not an earlier report is refused.
    models : sequence of str
        Model files of either generation, public model names (``rnnoise-0.2`` included), or
        ``LABEL=PATH``; a model may end in ``@OPTIONS`` (``std@12``: at most 12 dB of attenuation;
        ``std@mix=0.5``; both: ``std@12,mix=0.5``; see
        :func:`rnnoise_kit.denoise.split_model_spec`).
    testset : path-like, optional
        A folder made by ``rnnoise-kit mix``.
    noisy, clean : path-like, optional
        Without ``testset``: noisy audio and (optionally) clean references, matched by name.
    real : path-like or sequence of path-like, optional
        Real recordings without clean references (files or folders), scored as a second set
        (DNSMOS and VAD) beside the test set, or alone. ``summary["sets"]`` holds one summary
        per set; ``summary["models"]`` is the test set's (the real set's when it is alone).
    jobs : int
        Worker processes (1: everything in this process).
    max_lag_s : float
        Largest delay the alignment searches, in seconds.
    spectrograms : bool
        Draw a mel spectrogram of every signal.
    audio_format : {"flac", "wav"}
        Format of the report's 16-bit audio files (FLAC: lossless, about half the size).
    denoiser_factory : callable, optional
        Builds a denoiser from a model value (default :func:`default_factory`); a hook for
        tests and other engines. Must be picklable when ``jobs > 1`` or on Dask.
    scheduler : str, optional
        Score the files on a Dask cluster (``"local:N"`` or a scheduler address, see
        :mod:`rnnoise_kit.parallel`) instead of ``jobs`` processes. Its workers write the
        report's media files themselves: ``output`` must be on storage they share.
    against : str, optional
        A row label (``noisy`` or a model's): every other row is compared with it file by
        file (:func:`rnnoise_kit.evaluation.paired.paired_differences`: mean difference,
        bootstrap confidence interval, share of files better), in ``summary["paired"]``, the
        report page and :func:`rnnoise_kit.evaluation.report.summary_tables`.

    Returns
    -------
    CompareResult

    Raises
    ------
    InputError
        Missing dependencies, bad inputs or models, ``against`` not a row label (a
        :class:`SettingError`, before any work), or no file could be scored.
    OutputError
        ``output`` is a file, holds someone else's files where the report goes, or is (or
        lies in) a folder of the test audio (checked before any work), or the report cannot
        be written.
    PartialFailure
        Some files failed; the report for the others was written first (the exception's
        ``result`` is its :class:`CompareResult`).
    """
    t_start = time.perf_counter()
    check_scheduler(scheduler)
    if audio_format not in report.AUDIO_FORMATS:
        raise InputError(None, f"audio format must be flac or wav (got {audio_format!r})")
    check_dependencies()
    specs = model_specs(models)
    labels = [BASELINE] + [m.label for m in specs]
    if against is not None:
        paired.check_against(against, labels)
    skipped: list[SkippedFile] = []
    if testset is None and noisy is None and real is None:
        raise InputError(None, "give a test set folder (testset), noisy audio (noisy) or real "
                               "recordings (real)")
    items = ([] if testset is None and noisy is None else
             find_inputs(testset=testset, noisy=noisy, clean=clean, skipped=skipped))
    if real is not None:
        items += find_real_inputs(real, skipped=skipped)
    factory = denoiser_factory or default_factory
    for m in specs:  # fail early (exit 2) on a missing or broken model
        _denoiser(factory, m.spec)
    out = Path(output)
    report.check_report_folder(out)
    _check_outside_inputs(out, testset, noisy, clean)
    with staging_folder(out) as stage:
        result, media = _run_tasks(items, specs, stage, factory, max_lag_s, spectrograms,
                                   audio_format, jobs, scheduler)
        result.output, result.skipped = out, skipped
        result.failures = {name: why.replace(str(stage), str(out))  # the user's path
                           for name, why in result.failures.items()}
        if not result.rows:
            detail = next(iter(result.failures.values()), "no input")
            raise InputError(None, f"no file could be scored (first error: {detail})")
        result.summary = report.summarize_sets(result.rows, labels, result.files,
                                               result.failures)
        if against is not None:
            result.summary["paired"] = paired.paired_differences(result.rows, labels, against)
        result.seconds = time.perf_counter() - t_start
        result.summary["seconds"] = result.seconds
        report.write_report(stage, result.rows, result.summary, labels, result.files,
                            media, result.failures)
        install_tree(stage, out, report.ENTRIES, report.INDEX, report.PLACEHOLDER)
    if result.failures:
        raise PartialFailure(result.failures, done=len(result.files), result=result)
    return result


def _check_outside_inputs(out: Path, testset, noisy, clean) -> None:
    """Refuse a report folder that is, or lies in, a folder of the test audio: its audio
    files would be read as test input the next time."""
    if testset is not None:
        noisy, clean = Path(testset) / "noisy", Path(testset) / "clean"
    where = out.resolve()
    for folder in (noisy, clean):
        if folder is None or not Path(folder).is_dir():
            continue
        root = Path(folder).resolve()
        if where == root or root in where.parents:
            raise OutputError(out, f"lies in the input folder {folder}: the report's audio "
                                   "would be read as test audio next time; choose another "
                                   "folder")


def _run_tasks(items: list[InputFile], specs: list[ModelSpec], stage: Path,
               factory: DenoiserFactory, max_lag_s: float, spectrograms: bool,
               audio_format: str, jobs: int, scheduler: str | None = None
               ) -> tuple[CompareResult, dict[str, dict]]:
    """Denoise and score every item (in ``jobs`` processes or on the Dask ``scheduler``),
    writing its media in ``stage``;
    returns the rows and failures, and each scored item's media by key."""
    tasks = [_Task(it, tuple(specs), stage, factory, max_lag_s, spectrograms, audio_format)
             for it in items]
    results: dict[str, tuple[list[dict] | None, dict, str | None]] = {}
    executor = open_executor(max(1, min(int(jobs), len(tasks))), scheduler, start_method="spawn")
    # in other processes: one thread each for the metric libraries, no progress bars
    in_workers = executor.workers > 1 or scheduler is not None
    with executor, progress_bar(len(tasks), "compare") as bar:
        for key, rows, media, err in executor.map(_run_job, tasks, in_workers):
            results[key] = (rows, media, err)
            bar.advance(1)
    result = CompareResult(stage, models=specs)
    media_by_key: dict[str, dict] = {}
    for it in items:
        rows, media, err = results[it.key]
        if err is not None or rows is None:
            result.failures[str(it.noisy)] = err or "failed"
            continue
        result.rows.extend(rows)
        result.files.append(it)
        media_by_key[it.key] = media
    return result, media_by_key
