"""``rnnoise-kit pipeline``: every stage of a training run, chained in one run directory.

Stages, each one function of the public API:

1. ``split``    hold out whole speech and noise files for the test set (seeded);
2. ``prepare``  the training files -> ``speech.raw`` / ``noise.raw`` (48 kHz s16 mono);
3. ``testset``  ``mix`` the held-out files into a noisy/clean test set;
4. ``features`` the 87-column training matrix (``features.h5``); ``arch = "0.2"``: the
   98-column rows of 0.2's ``dump_features`` with its augmentation (the training noise is
   also its foreground noise; rooms simulated from the seed, or ``rir``);
5. ``train``    the PyTorch model (resumable: checkpoints in ``train/``);
6. ``export``   ``model.rnnn`` and ``rnn_data.c/.h`` (0.2: ``model.bin`` and
   ``rnnoise_data.c/.h``);
7. ``compare``  the HTML report comparing the new model with the bundled and ``std`` models
   (0.2: and the official ``rnnoise-0.2`` when pyrnnoise is installed).

``RUN_DIR/run.json`` records, for each stage, a key (the sha256 of its parameters and of its
inputs' content hashes), its outputs with their sha256, versions and timings, and the final
metrics. A stage whose key is unchanged and whose outputs are intact is skipped, so running
the same command again after a kill resumes where it stopped (training from its last
checkpoint).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from rnnoise_kit import __version__
from rnnoise_kit.audio.mix import MIN_SECONDS
from rnnoise_kit.errors import InputError, OutputError, SettingError
from rnnoise_kit.fileio import atomic_write_text, sha256_file, write_problem
from rnnoise_kit.model.registry import LIBRARY_MODELS, PUBLIC_MODELS
from rnnoise_kit.settings import Rule, check_settings
from rnnoise_kit.training.recipe import RECIPE_RULES, TrainConfig, unit_count_texts
from rnnoise_kit.training.v02.recipe import SIZE_NAMES, SIZES, TrainConfig02

RUN_FILE = "run.json"

ARCHS = ("0.1", "0.2")
"""Generations the pipeline trains: RNNoise v0.1 (default) and 0.2."""

_ARCH_RECIPES = {"0.1": TrainConfig, "0.2": TrainConfig02}
_RECIPE_KEYS = ("epochs", "batch_size", "window", "lr", "seed")
_COMPARE_WITH = {"0.1": ["bundled", "std"], "0.2": ["rnnoise-0.2", "bundled", "std"]}

DEMO_DEFAULTS = {
    # small enough for `rnnoise-kit demo` to finish in minutes on two cores
    "frames": 150_000,
    "epochs": 15,
    "batch_size": 16,
    "window": 500,
    "test_count": 6,
    "test_seconds": 6.0,
    "holdout": 0.12,
}
"""Settings of ``rnnoise-kit demo`` (overridable on its command line)."""

DEMO_DEFAULTS_02 = {
    # 0.2 at upstream's size (the only one pyrnnoise's librnnoise loads) on 20 sequences of
    # 2000 rows: the GRUs of 384 dominate, about 100-140 s an epoch on this loaded 2-core CPU
    # with one torch thread (faster than two while the CPU is shared: nn.GRU syncs every step)
    "arch": "0.2",
    "frames": 40_000,
    "epochs": 2,
    "batch_size": 8,
    "window": 400,
    "test_count": 6,
    "test_seconds": 6.0,
    "holdout": 0.12,
    "threads": 1,
}
"""Settings of ``rnnoise-kit demo --arch 0.2``."""


def demo_defaults(arch: str = "0.1") -> dict:
    """The demo's settings for a generation (:data:`DEMO_DEFAULTS`, :data:`DEMO_DEFAULTS_02`)."""
    return dict(DEMO_DEFAULTS_02 if arch == "0.2" else DEMO_DEFAULTS)

DEMO_DATA_SECONDS = 150.0
"""Seconds of speech, and of noise, that :func:`run_demo` synthesises by default."""


def _rule(rule: Rule) -> dict:
    return {"rule": rule}


def _device_name(value: str) -> str | None:
    if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return None
    return "auto, cpu, cuda or cuda:N"


def _snr_range(value: str) -> str | None:
    from rnnoise_kit.audio.mix import parse_range

    try:
        parse_range(value, "test_snr")
    except InputError:
        return "LO:HI in dB with LO <= HI, e.g. \"0:15\""
    return None


def _augment_steps(value: str) -> str | None:
    from rnnoise_kit.training.augment import STEPS, Augmentation

    try:
        Augmentation.from_steps(value)
    except InputError:
        return f"comma-separated steps from {', '.join(STEPS)}, or all, or none"
    return None


def _noise_offset(value: float) -> str | None:
    from rnnoise_kit.training.augment import noise_offset_problem

    return noise_offset_problem(value)


def _recipe_field(name: str):
    """A setting shared with the training recipe: its rule; unset (None), it takes the
    default of the run's generation (TrainConfig's or TrainConfig02's)."""
    return field(default=None, metadata=_rule(replace(RECIPE_RULES[name], optional=True)))


def _arch_default(arch: str, name: str):
    if name == "activations":  # v0.1 only; one "a,b,c" string here
        return ",".join(TrainConfig.activations) if arch == "0.1" else None
    if name == "recipe":  # v0.1's named recipes
        return TrainConfig.recipe if arch == "0.1" else None
    if name == "compare_with":
        return list(_COMPARE_WITH[arch])
    if name == "size":
        return "default" if arch == "0.2" else None
    return getattr(_ARCH_RECIPES[arch], name)


@dataclass
class PipelineConfig:
    """Parameters of a pipeline run (also readable from a TOML file, same names).

    Every field is checked (type and range, :mod:`rnnoise_kit.settings`) when the config is
    made or read, before any stage runs; the rules are in each field's metadata, those of the
    training recipe (rules and defaults) shared with
    :class:`~rnnoise_kit.training.recipe.TrainConfig`.
    ``speech``, ``noise`` and ``compare_with`` take a list or one string; ``activations``
    three names, as ``"tanh,relu,tanh"`` or a list.

    ``arch`` chooses the generation, ``"0.1"`` (default) or ``"0.2"``; ``epochs``,
    ``batch_size``, ``window``, ``lr``, ``compare_with`` left unset take that generation's
    defaults (0.2: :class:`~rnnoise_kit.training.v02.recipe.TrainConfig02`'s, and
    ``rnnoise-0.2`` is compared too). 0.1 only: ``sizes``, the units of the four layers as
    ``"24,24,62,128"`` or a list (``train --sizes``' rules; sizes FFmpeg and librnnoise v0.1.1
    cannot load are refused), unset: the classic ``24,24,48,96`` or the ``init`` model's.
    0.2 only: ``size`` (``"default"``, upstream's, or ``"small"``) and ``threads`` (torch's
    CPU threads); its ``frames`` are whole sequences of 2000 rows, its augmentation is the
    generator's own (``augment`` stays ``"all"``), and ``activations`` and ``sizes`` are
    v0.1's.
    """

    arch: str = field(default="0.1", metadata=_rule(Rule(str, choices=ARCHS)))

    speech: list[str] = field(default_factory=list, metadata=_rule(Rule(list)))
    noise: list[str] = field(default_factory=list, metadata=_rule(Rule(list)))
    frames: int = field(default=500_000, metadata=_rule(Rule(int, minimum=1)))
    augment: str = field(default="all", metadata=_rule(Rule(str, check=_augment_steps)))
    rir: str | None = field(default=None, metadata=_rule(Rule(str, optional=True)))
    recipe: str = _recipe_field("recipe")
    epochs: int = _recipe_field("epochs")
    batch_size: int = _recipe_field("batch_size")
    window: int = _recipe_field("window")
    lr: float | None = _recipe_field("lr")
    activations: str = _recipe_field("activations")
    sizes: str | None = _recipe_field("sizes")
    device: str = field(default="auto", metadata=_rule(Rule(str, check=_device_name)))
    seed: int = _recipe_field("seed")
    jobs: int = field(default=2, metadata=_rule(Rule(int, minimum=1)))
    scheduler: str | None = field(default=None, metadata=_rule(Rule(str, optional=True)))
    """Dask cluster for prepare, features and compare (``local:N`` or an address); same
    outputs as ``jobs`` processes, so not part of any stage's parameters."""
    holdout: float = field(default=0.1, metadata=_rule(Rule(float, above=0, below=1)))
    test_count: int = field(default=8, metadata=_rule(Rule(int, minimum=1)))
    test_seconds: float = field(default=8.0, metadata=_rule(Rule(float, minimum=MIN_SECONDS)))
    test_snr: str = field(default="0:15", metadata=_rule(Rule(str, check=_snr_range)))
    compare_with: list[str] | None = field(
        default=None,
        metadata=_rule(Rule(list, choices=("bundled", *PUBLIC_MODELS, *LIBRARY_MODELS),
                            optional=True)))
    init: str | None = field(default=None, metadata=_rule(Rule(str, optional=True)))
    teacher: str | None = field(default=None, metadata=_rule(Rule(str, optional=True)))
    """v0.1: an RNNoise 0.2 model whose gains are blended into the target gains
    (:mod:`rnnoise_kit.training.teacher`); None: oracle targets only."""
    teacher_weight: float | None = field(
        default=None, metadata=_rule(Rule(float, minimum=0, maximum=1, optional=True)))
    """The teacher's share of each target (None: :class:`~rnnoise_kit.training.teacher.Teacher`'s
    default); with ``teacher_pause_weight``, of the targets of frames with speech."""
    teacher_pause_weight: float | None = field(
        default=None, metadata=_rule(Rule(float, minimum=0, maximum=1, optional=True)))
    """The teacher's share of the targets of frames without speech (None: ``teacher_weight``)."""
    noise_offset: float = field(default=0.0, metadata=_rule(Rule(float, check=_noise_offset)))
    """v0.1: shift of every training segment's noise level, in dB (``features
    --noise-offset``)."""
    undershoot: float | None = field(
        default=None, metadata=_rule(replace(RECIPE_RULES["undershoot"], optional=True)))
    """v0.1: the training loss's extra weight on gains below their target (``train
    --undershoot``; None: the recipe's)."""
    anchor: float | None = field(
        default=None, metadata=_rule(replace(RECIPE_RULES["anchor"], optional=True)))
    """v0.1, with ``init``: the share of the ``init`` model's own gains in the targets of the
    frames with speech (``train --anchor``; None: the recipe's)."""
    size: str | None = field(default=None,
                             metadata=_rule(Rule(str, choices=SIZE_NAMES, optional=True)))
    threads: int | None = field(default=None,
                                metadata=_rule(Rule(int, minimum=1, optional=True)))

    def __post_init__(self) -> None:
        arch = check_settings({"arch": self.arch}, {"arch": self.rules()["arch"]})["arch"]
        for name in (*_RECIPE_KEYS, "recipe", "activations", "compare_with", "size"):
            if getattr(self, name) is None:
                setattr(self, name, _arch_default(arch, name))
        self.sizes = unit_count_texts(self.sizes)
        values = check_settings({f.name: getattr(self, f.name) for f in fields(self)},
                                self.rules())
        for name in ("activations", "sizes"):  # one "a,b,c" string each
            if values[name] is not None:
                values[name] = ",".join(values[name])
        for name, value in values.items():
            setattr(self, name, value)
        if arch == "0.2":
            self._check_v02()
        for name in ("size", "threads"):
            if arch == "0.1" and getattr(self, name) is not None:
                raise SettingError(name, "is for arch 0.2")
        self.teacher_spec()  # a weight without a teacher is refused here
        if self.anchor and self.init is None:
            raise SettingError("anchor", "needs init (the model whose own gains the targets "
                                         "are pulled towards)")
        if self.sizes is not None:
            from rnnoise_kit.model.core import refuse_unloadable

            refuse_unloadable([int(v) for v in self.sizes.split(",")])

    def teacher_spec(self):
        """The :class:`~rnnoise_kit.training.teacher.Teacher` of the run, or None."""
        from rnnoise_kit.training.teacher import Teacher

        return Teacher.of(self.teacher, self.teacher_weight, self.teacher_pause_weight)

    def _check_v02(self) -> None:
        from rnnoise_kit.training.v02.layout import SEQUENCE

        if self.recipe is not None:
            raise SettingError("recipe", "is for arch 0.1 (0.2 has its own recipe)")
        if self.activations is not None:
            raise SettingError("activations", "is for arch 0.1 (the 0.2 network has no such "
                                              "choice)")
        if self.sizes is not None:
            raise SettingError("sizes", "is for arch 0.1 (0.2: size)")
        if self.teacher is not None:
            raise SettingError("teacher", "is for arch 0.1 (a 0.2 model teaches v0.1 targets)")
        if self.noise_offset:
            raise SettingError("noise_offset", "is for arch 0.1 (0.2's generator draws its "
                                               "levels as upstream)")
        for name in ("undershoot", "anchor"):
            if getattr(self, name) is not None:
                raise SettingError(name, "is for arch 0.1 (0.2 has its own loss)")
        if self.augment != "all":
            raise SettingError("augment", "must be all with arch 0.2 (its generator's "
                                          "augmentation is fixed; rir chooses the rooms)")
        if self.frames % SEQUENCE:
            raise SettingError("frames", f"must be a multiple of {SEQUENCE} with arch 0.2 "
                                         f"(whole sequences), not {self.frames}")
        self.recipe02()  # the 0.2 recipe's own ranges (window >= 5, ...)

    def recipe02(self) -> TrainConfig02:
        """The 0.2 training recipe of this run (``arch = "0.2"``)."""
        conv1, gru = SIZES[self.size or "default"]
        return TrainConfig02(epochs=self.epochs, batch_size=self.batch_size, window=self.window,
                             lr=self.lr, seed=self.seed, conv1_size=conv1, gru_size=gru)

    @classmethod
    def rules(cls) -> dict[str, Rule]:
        """The rule of every setting, by key."""
        return {f.name: f.metadata["rule"] for f in fields(cls)}

    @classmethod
    def from_toml(cls, path: str | os.PathLike,
                  defaults: dict | Callable[[str], dict] | None = None,
                  **overrides) -> PipelineConfig:
        """Read a TOML file (keys as the attributes above).

        Precedence: ``overrides`` (command-line options that were given) over the file over
        ``defaults`` over the attribute defaults. ``defaults`` may be a function of the run's
        ``arch`` (as :func:`demo_defaults`).

        Raises
        ------
        InputError
            The file is missing or not TOML, or a key is unknown or has a value of the wrong
            type or range (the message names the file and the key).
        """
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise InputError(path, "no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, f"not valid TOML ({exc})") from None
        if "sizes" in data:
            data["sizes"] = unit_count_texts(data["sizes"])
        data = check_settings(data, cls.rules(), source=path)
        if callable(defaults):
            defaults = defaults(overrides.get("arch") or data.get("arch") or "0.1")
        data = {**(defaults or {}), **data}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


# --------------------------------------------------------------------------- hashing


def tree_fingerprint(paths: list[str]) -> str:
    """A hash of the audio files under ``paths`` (relative path, size, mtime).

    Source folders can hold hundreds of hours; hashing their bytes on every run would cost
    minutes, so sources are fingerprinted by metadata. Files the pipeline writes are
    hashed by content.
    """
    from rnnoise_kit.audio.scan import iter_source_files

    h = hashlib.sha256()
    for src in paths:
        for f in iter_source_files(src):
            st = f.stat()
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _key(stage: str, params: dict, inputs: dict[str, str]) -> str:
    blob = json.dumps({"stage": stage, "params": params, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _versions() -> dict[str, str]:
    import numpy

    out = {"rnnoise-kit": __version__, "python": platform.python_version(),
           "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


# --------------------------------------------------------------------------- run record


class RunRecord:
    """``RUN_DIR/run.json``: stages done, their keys, outputs and timings."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.path = run_dir / RUN_FILE
        self.data: dict = {"stages": {}}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                self.data = {"stages": {}}  # a damaged record only costs a recomputation

    def save(self) -> None:
        self.data["versions"] = _versions()
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def done(self, stage: str, key: str) -> bool:
        rec = self.data["stages"].get(stage)
        if not rec or rec.get("key") != key:
            return False
        for rel, digest in rec.get("outputs", {}).items():
            p = self.run_dir / rel
            if not p.exists() or (p.is_file() and sha256_file(p) != digest):
                return False
        return True

    def record(self, stage: str, key: str, outputs: list[Path], seconds: float,
               params: dict, info: dict | None = None) -> None:
        self.data["stages"][stage] = {
            "key": key,
            "params": params,
            "outputs": {str(p.relative_to(self.run_dir)): sha256_file(p)
                        for p in outputs if p.is_file()},
            "seconds": round(seconds, 2),
            **({"info": info} if info else {}),
        }
        self.save()

    def output_hash(self, stage: str, rel: str) -> str:
        return self.data["stages"][stage]["outputs"][rel]


# --------------------------------------------------------------------------- the pipeline


@dataclass
class PipelineResult:
    """Where the pipeline left its products."""

    run_dir: Path
    model: Path
    report: Path | None
    metrics: dict
    skipped_stages: list[str]


def _say(msg: str) -> None:
    print(f"[pipeline] {msg}", file=sys.stderr, flush=True)


def run_pipeline(run_dir: str | os.PathLike, config: PipelineConfig,
                 log: Callable[[str], None] = _say) -> PipelineResult:
    """Run (or resume) every stage in ``run_dir``; see the module docstring.

    Raises
    ------
    InputError
        No speech or noise given, a missing source or ``init`` model, a training matrix or
        test set too large for the disk (all checked before the first stage), unusable
        sources, or a stage's own input errors.
    OutputError
        ``run_dir`` is a file or cannot be made, or a stage cannot write its outputs.
    """
    if not config.speech or not config.noise:
        raise InputError(None, "the pipeline needs speech and noise sources")
    from rnnoise_kit.parallel import check_scheduler

    check_scheduler(config.scheduler)
    run = Path(run_dir)
    for src in [*config.speech, *config.noise]:
        if not Path(src).exists():
            raise InputError(src, "no such file or folder")
    if run.exists() and not run.is_dir():
        raise OutputError(run, "is a file, not a folder; give the run folder to write")
    preflight(run, config)
    created = not run.exists()
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(run, write_problem(exc, run)) from exc
    try:
        return _run_stages(run, config, log)
    except BaseException:
        if created:  # a run that stopped before any stage wrote a file leaves no folder
            with contextlib.suppress(OSError):
                run.rmdir()
        raise


def _run_stages(run: Path, config: PipelineConfig,
                log: Callable[[str], None]) -> PipelineResult:
    """The stages of :func:`run_pipeline` in the run folder ``run`` (which exists)."""
    rec = RunRecord(run)
    rec.data["config"] = asdict(config)
    skipped: list[str] = []

    def stage(name: str, params: dict, inputs: dict[str, str], outputs: list[Path],
              body: Callable[[], dict | None]) -> None:
        key = _key(name, params, inputs)
        if rec.done(name, key) and all(p.exists() for p in outputs):
            log(f"{name}: up to date, skipped")
            skipped.append(name)
            return
        log(f"{name}: running")
        t0 = time.perf_counter()
        info = body()
        rec.record(name, key, outputs, time.perf_counter() - t0, params, info)
        log(f"{name}: done in {time.perf_counter() - t0:.1f} s")

    # 1. split
    split_file = run / "split.json"
    src_hash = {"speech": tree_fingerprint(config.speech), "noise": tree_fingerprint(config.noise)}
    split_params = {"holdout": config.holdout, "seed": config.seed,
                    "speech": config.speech, "noise": config.noise}
    stage("split", split_params, src_hash, [split_file],
          lambda: _split(config, split_file))
    split = json.loads(split_file.read_text())
    for path, reason in split.get("skipped", []):
        log(f"split: skipped {path}: {reason}")
    split_hash = {"split": rec.output_hash("split", "split.json")}

    # 2. prepare
    speech_raw, noise_raw = run / "speech.raw", run / "noise.raw"

    def do_prepare() -> dict:
        from rnnoise_kit.audio.prepare import prepare

        info = {}
        for role, out in (("speech", speech_raw), ("noise", noise_raw)):
            r = prepare(split["train"][role], out, manifest=run / f"{role}.json",
                        jobs=config.jobs, scheduler=config.scheduler)
            info[role] = {"files": len(r.files), "seconds": round(r.duration, 2),
                          "skipped": [str(s.path) for s in r.skipped]}
            for s in r.skipped:
                log(f"prepare: skipped {s.path}: {s.reason}")
        return info

    stage("prepare", {}, split_hash, [speech_raw, noise_raw], do_prepare)

    # 3. test set from the held-out files
    testset = run / "testset"

    def do_testset() -> dict:
        from rnnoise_kit.audio.mix import mix

        if testset.exists():
            shutil.rmtree(testset)
        r = mix(split["test"]["speech"], split["test"]["noise"], testset,
                count=config.test_count, seconds=config.test_seconds, snr=config.test_snr,
                seed=config.seed)
        for s in r.skipped:
            log(f"testset: skipped {s.path}: {s.reason}")
        return {"files": len(r.items)}

    stage("testset", {"count": config.test_count, "seconds": config.test_seconds,
                      "snr": config.test_snr, "seed": config.seed},
          split_hash, [testset / "mix.csv"], do_testset)

    # 4. features
    matrix = run / "features.h5"
    raw_hash = {"speech": rec.output_hash("prepare", "speech.raw"),
                "noise": rec.output_hash("prepare", "noise.raw")}

    v02 = config.arch == "0.2"
    arch_param = {"arch": "0.2"} if v02 else {}  # v0.1 keys as before: its runs stay valid

    teacher = config.teacher_spec()

    def do_features() -> dict:
        if v02:
            from rnnoise_kit.training.v02.generator import DEFAULT_ROOMS, generate_v02

            r = generate_v02(speech_raw, noise_raw, config.frames, matrix,
                             foreground_noise=noise_raw, rir=config.rir, rooms=DEFAULT_ROOMS,
                             seed=config.seed, jobs=config.jobs)
            rooms = config.rir or f"{DEFAULT_ROOMS} generated rooms"
            log(f"features: {r.rows} rows (0.2), reverberation: {rooms}")
            return {"rows": r.rows, "augment": "0.2 dump_features", "rir": rooms}
        from rnnoise_kit.training.augment import Augmentation
        from rnnoise_kit.training.generator import generate

        augment = Augmentation.from_steps(config.augment, rir=config.rir,
                                          noise_offset_db=config.noise_offset)
        r = generate(speech_raw, noise_raw, config.frames, matrix, seed=config.seed,
                     jobs=config.jobs, augment=augment, scheduler=config.scheduler,
                     teacher=teacher)
        steps = r.attrs.get("augment", "none")
        log(f"features: {r.rows} rows, augmentation: {steps}"
            + (f" ({r.attrs['augment_rir']})" if "augment_rir" in r.attrs else "")
            + (f", noise offset {config.noise_offset:g} dB" if config.noise_offset else "")
            + (f", teacher {teacher.model} ({teacher.weight_text})" if teacher else ""))
        return {"rows": r.rows, "augment": steps}

    # only when set: the features of earlier runs stay valid
    new_params = {}
    if teacher is not None:
        new_params.update(teacher=teacher.model, teacher_weight=teacher.weight)
        if teacher.pause_weight is not None:
            new_params["teacher_pause_weight"] = teacher.pause_weight
    if config.noise_offset:
        new_params["noise_offset"] = config.noise_offset
    stage("features", {"frames": config.frames, "seed": config.seed,
                       "augment": config.augment, "rir": config.rir, **arch_param,
                       **new_params}, raw_hash,
          [matrix], do_features)

    # 5. train (resumable inside its own folder)
    train_dir = run / "train"
    train_params = {k: getattr(config, k) for k in
                    ("recipe", "epochs", "batch_size", "window", "lr", "activations", "seed",
                     "init")}
    if v02:
        train_params = {**train_params, **arch_param, "size": config.size}
    elif config.sizes is not None:  # unset, the key of a run made before sizes was a setting
        train_params["sizes"] = config.sizes
    for name in ("undershoot", "anchor"):  # the same: only when set
        if getattr(config, name) is not None:
            train_params[name] = getattr(config, name)
    model_name = "model.bin" if v02 else "model.rnnn"
    model_path = train_dir / model_name

    def train_once(resume: bool):
        if v02:
            from rnnoise_kit.training.v02.trainer import train02

            return train02(matrix, train_dir, config=config.recipe02(), resume=resume,
                           init=config.init, device=config.device, threads=config.threads)
        from rnnoise_kit.training.trainer import run_sizes, train

        cfg = TrainConfig(recipe=config.recipe, epochs=config.epochs,
                          batch_size=config.batch_size,
                          window=config.window, lr=config.lr,
                          activations=tuple(config.activations.split(",")), seed=config.seed,
                          sizes=run_sizes(config.sizes, config.init),
                          undershoot=config.undershoot, anchor=config.anchor)
        return train(matrix, train_dir, config=cfg, resume=resume, init=config.init,
                     device=config.device)

    def do_train() -> dict:
        from rnnoise_kit.training.trainer import CheckpointMismatch, DamagedTrainingState

        try:
            r = train_once(resume=True)  # continues a killed run (fresh when there is none)
        except (CheckpointMismatch, DamagedTrainingState) as exc:
            # a run folder is always resumable or restartable: what cannot be resumed is redone
            why = ("its training state is damaged" if isinstance(exc, DamagedTrainingState)
                   else "the checkpoint there is from other data or settings")
            log(f"train: cannot resume ({why}); starting the training over")
            shutil.rmtree(train_dir)
            r = train_once(resume=False)
        return {"epochs": r.epochs, "loss": r.loss, "val_loss": r.val_loss}

    stage("train", train_params, {"features": rec.output_hash("features", "features.h5")},
          [model_path], do_train)

    # 6. export
    export_dir = run / "model"
    exported = ([export_dir / "model.bin", export_dir / "rnnoise_data.c",
                 export_dir / "rnnoise_data.h"] if v02 else
                [export_dir / "model.rnnn", export_dir / "rnn_data.c", export_dir / "rnn_data.h"])

    def do_export() -> None:
        from rnnoise_kit.model import load_model, save_model

        m = load_model(model_path)
        save_model(m, exported[0])
        save_model(m, exported[1])

    stage("export", {}, {"model": rec.output_hash("train", f"train/{model_name}")}, exported,
          do_export)

    # 7. compare
    report = run / "report"
    models = [f"new={exported[0]}"] + _comparison_models(config.compare_with, log)

    def do_compare() -> dict:
        from rnnoise_kit.evaluation.compare import compare

        # compare swaps the new report in whole (a kill leaves the old one or a placeholder)
        r = compare(testset=testset, models=models, output=report, jobs=config.jobs,
                    scheduler=config.scheduler)
        return {"summary": r.summary}

    stage("compare", {"models": models},
          {"model": rec.output_hash("export", f"model/{exported[0].name}"),
           "testset": rec.output_hash("testset", "testset/mix.csv")},
          [report / "index.html", report / "summary.json"], do_compare)

    metrics = json.loads((report / "summary.json").read_text())
    rec.data["metrics"] = metrics
    rec.save()
    return PipelineResult(run, exported[0], report / "index.html", metrics, skipped)


def run_demo(run_dir: str | os.PathLike, config: PipelineConfig | None = None, *,
             speech_seconds: float = DEMO_DATA_SECONDS,
             noise_seconds: float = DEMO_DATA_SECONDS,
             voices: str = "espeak",
             log: Callable[[str], None] = _say) -> PipelineResult:
    """Synthesise the built-in demo data in ``run_dir/data`` and run the pipeline on it.

    What ``rnnoise-kit demo`` does: :func:`rnnoise_kit.audio.demo.make_demo_dataset` (seeded
    with ``config.seed``; an identical earlier build there is reused), then
    :func:`run_pipeline` with that data as its speech and noise, so a rerun resumes too.

    Parameters
    ----------
    run_dir : path-like
        The run folder; the data goes to its ``data/`` subfolder.
    config : PipelineConfig, optional
        Settings of the run; default ``PipelineConfig(**DEMO_DEFAULTS)`` (a small scale, done
        in minutes). Its ``speech`` and ``noise`` are replaced by the demo data.
    speech_seconds, noise_seconds : float
        How much speech and noise to synthesise.
    voices : {"espeak", "piper", "both"}
        Who speaks the speech (:func:`~rnnoise_kit.audio.demo.make_demo_dataset`); Piper
        voices need the optional extra ``rnnoise-kit[piper]``.
    log : callable, optional
        Receives a line per stage (default: stderr).

    Returns
    -------
    PipelineResult

    Raises
    ------
    InputError
        Bad settings, a ``data/`` folder holding something else than demo data, or a stage's
        own input errors.
    rnnoise_kit.audio.demo.piper.PiperError
        Piper voices asked for without the optional extra.
    """
    from rnnoise_kit.audio.demo import make_demo_dataset

    if config is None:
        config = PipelineConfig(**DEMO_DEFAULTS)
    preflight(run_dir, config)  # before the data is made: the settings were checked already
    data = Path(run_dir) / "data"
    make_demo_dataset(data, speech_seconds=speech_seconds, noise_seconds=noise_seconds,
                      seed=config.seed, voices=voices)
    config = replace(config, speech=[str(data / "speech")], noise=[str(data / "noise")])
    return run_pipeline(run_dir, config, log=log)


def preflight(run_dir: str | os.PathLike, config: PipelineConfig) -> None:
    """Check what can be checked before any work: the ``init`` model loads, the training
    matrix and the test set fit on the disk, a test clip fits in memory.

    (The settings' types and ranges were checked when ``config`` was made.)

    Raises
    ------
    InputError
        The first problem found, with the size a too large output would take.
    """
    from rnnoise_kit.audio.mix import check_mix_room
    from rnnoise_kit.training.matrix import check_matrix_room

    run = Path(run_dir)
    if config.init is not None and config.arch == "0.2":
        from rnnoise_kit.training.v02.trainer import run_sizes

        run_sizes(config.size, init=config.init)  # a 0.2 model of the run's size
    elif config.init is not None:
        from rnnoise_kit.training.trainer import load_init_model

        load_init_model(config.init)
    # outputs a previous run left are replaced only when their stage reruns (checked then)
    if not (run / "features.h5").exists():
        if config.arch == "0.2":
            from rnnoise_kit.training.v02.layout import ROW

            check_matrix_room(run / "features.h5", config.frames, ROW)
        else:
            check_matrix_room(run / "features.h5", config.frames)
    if not (run / "testset").exists():
        check_mix_room(run / "testset", config.test_count, config.test_seconds)


def _comparison_models(names: list[str], log: Callable[[str], None]) -> list[str]:
    from rnnoise_kit.model.registry import (
        cache_status,
        cached_path,
        default_model_path,
        has_bundled_model,
    )

    out = []
    for name in names:
        if name == "bundled":
            if has_bundled_model():
                out.append(f"bundled={default_model_path()}")
            else:
                log("compare: no bundled model in this build, not compared")
        elif name in LIBRARY_MODELS:
            try:  # imported from the installed pyrnnoise on first use
                out.append(f"{name}={cached_path(name)}")
            except InputError as exc:
                log(f"compare: {name} not compared ({exc})")
        elif cache_status(name) == "ok":
            out.append(f"{name}={cached_path(name)}")
        elif cache_status(name) == "modified":
            log(f"compare: {name} in the model cache is not the published file (sha256 "
                f"differs; `rnnoise-kit model get {name}` fetches it again), not compared")
        else:
            log(f"compare: {name} is not in the model cache (`rnnoise-kit model get {name}`), "
                "not compared")
    return out


def _split(config: PipelineConfig, out: Path) -> dict:
    """Hold out whole files (seeded) for the test set: at least one of each kind."""
    import numpy as np

    from rnnoise_kit.audio.scan import scan_audio

    rng = np.random.default_rng(config.seed)
    result: dict = {"train": {}, "test": {}, "skipped": []}
    for role, sources in (("speech", config.speech), ("noise", config.noise)):
        files, skipped = scan_audio(sources)
        result["skipped"] += [[str(s.path), s.reason] for s in skipped]
        if len(files) < 2:
            raise InputError(sources[0], f"the pipeline needs at least 2 {role} files "
                                         f"(one is held out for testing), found {len(files)}")
        n_test = min(len(files) - 1, max(1, round(config.holdout * len(files))))
        test_idx = set(rng.choice(len(files), n_test, replace=False).tolist())
        result["test"][role] = [str(f) for i, f in enumerate(files) if i in test_idx]
        result["train"][role] = [str(f) for i, f in enumerate(files) if i not in test_idx]
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    return {role: {"train": len(result["train"][role]), "test": len(result["test"][role])}
            for role in ("speech", "noise")}
