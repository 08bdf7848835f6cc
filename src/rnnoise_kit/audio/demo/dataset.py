"""The demo dataset: speech and noise files written under one folder, with ``demo.json``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnoise_kit.audio import _espeak
from rnnoise_kit.audio.demo._common import rng_for
from rnnoise_kit.audio.demo.cache import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    PLACEHOLDER,
    check_folder,
    generator_info,
    manifest_params,
    reusable_build,
)
from rnnoise_kit.audio.demo.noise import NOISE_TYPES, make_noise
from rnnoise_kit.audio.demo.piper import (
    PIPER_VOICES,
    PiperTalker,
    draw_style,
    require_piper,
)
from rnnoise_kit.audio.demo.rooms import reverberate
from rnnoise_kit.audio.demo.speech import (
    available_variants,
    draw_voice,
    extend_high_band,
    normalize_active,
    talk,
    to_48k,
)
from rnnoise_kit.audio.demo.text import DEFAULT_LANGUAGES, available_languages
from rnnoise_kit.audio.io import SAMPLE_RATE, write_audio
from rnnoise_kit.capacity import check_disk
from rnnoise_kit.errors import InputError, SettingError
from rnnoise_kit.fileio import (
    atomic_write_text,
    install_tree,
    remove_stale_temps,
    staging_folder,
)
from rnnoise_kit.progress import progress_bar
from rnnoise_kit.settings import Rule, check_settings


@dataclass(frozen=True)
class DemoFile:
    """One generated file (``path`` relative to the dataset root)."""

    path: str
    kind: str  # "speech" | "noise"
    label: str  # language or noise type
    seconds: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DemoDataset:
    """What :func:`make_demo_dataset` made.

    Attributes
    ----------
    root, speech_dir, noise_dir, manifest : Path
        The output folder, its ``speech`` and ``noise`` folders and ``demo.json``.
    languages, voices, noise_types : tuple of str
        Speech languages, espeak voices used (``"de+m3"``), noise types.
    files : tuple of DemoFile
    seed : int
    speech_seconds, noise_seconds : float
        Total durations actually written.
    elapsed : float
        Seconds taken (0 when an identical earlier build was reused).
    reused : bool
        True when ``demo.json`` already described this exact build and nothing was written.
    """

    root: Path
    speech_dir: Path
    noise_dir: Path
    manifest: Path
    languages: tuple[str, ...]
    voices: tuple[str, ...]
    noise_types: tuple[str, ...]
    files: tuple[DemoFile, ...]
    seed: int
    speech_seconds: float
    noise_seconds: float
    elapsed: float = 0.0
    reused: bool = False

    def speech_files(self) -> list[Path]:
        """Absolute paths of the speech files."""
        return [self.root / f.path for f in self.files if f.kind == "speech"]

    def noise_files(self) -> list[Path]:
        """Absolute paths of the noise files."""
        return [self.root / f.path for f in self.files if f.kind == "noise"]


def _split(total: float, target: float) -> list[float]:
    """Split ``total`` seconds into files of about ``target`` seconds."""
    if total <= 0:
        return []
    count = max(1, int(round(total / target)))
    return [total / count] * count


def _dataset_from(root: Path, manifest: Path, data: dict, elapsed: float,
                  reused: bool) -> DemoDataset:
    files = tuple(
        DemoFile(e["path"], kind, e["language"] if kind == "speech" else e["type"],
                 e["seconds"], {k: v for k, v in e.items()
                                if k not in ("path", "language", "type", "seconds")})
        for kind in ("speech", "noise") for e in data[kind]
    )
    return DemoDataset(root, root / "speech", root / "noise", manifest,
                       tuple(data["languages"]), tuple(data["voices"]),
                       tuple(data["noise_types"]), files, int(data["seed"]),
                       float(data["speech_seconds"]), float(data["noise_seconds"]),
                       elapsed, reused)


_NOT_REVERBERATED = ("white", "pink", "brown", "hum")

SPEECH_VOICES = ("espeak", "piper", "both")
"""Choices of ``make_demo_dataset(voices=...)``: who speaks the clean speech."""


def make_demo_dataset(out_dir, *, speech_seconds: float = 180.0, noise_seconds: float = 180.0,
                      languages: Sequence[str] | None = None, seed: int = 0,
                      reverb: float = 0.0, hf_extension: bool = True,
                      noise_types: Sequence[str] | None = None, file_seconds: float = 4.5,
                      voices: str = "espeak", progress: bool = True) -> DemoDataset:
    """Synthesise a small speech + noise dataset for training demos, fully offline.

    Writes ``out_dir/speech/<lang>/<lang>_NNN.wav`` (espeak-ng),
    ``out_dir/speech/piper-<voice>/<voice>_NNN.wav`` (Piper voices, with ``voices="piper"`` or
    ``"both"``), ``out_dir/noise/<type>/<type>_NNN.wav`` (48 kHz mono 16-bit WAV, a few
    seconds each) and ``out_dir/demo.json`` describing everything (languages, voices, texts,
    durations, noise parameters, rooms, seed; for Piper the voice package, its version and
    its license). The
    build is made in a hidden folder beside ``out_dir`` and swapped in whole, ``demo.json``
    last: a build that fails or is killed leaves the previous one (or a placeholder
    ``demo.json`` that no build matches), so a rerun never trusts part of a build.

    Parameters
    ----------
    out_dir : path-like
        Created if needed. An earlier build there (``demo.json``) is replaced whole
        (``speech/``, ``noise/``), or reused as is when it was made with the same arguments
        and its files are intact; a folder with foreign ``speech/`` or ``noise/`` content is
        refused.
    speech_seconds, noise_seconds : float
        Total durations; speech is split evenly over the languages, noise over the types.
    languages : sequence of str, optional
        espeak-ng languages (default :data:`DEFAULT_LANGUAGES`, 12). Languages without a
        built-in word list speak Latin-letter pseudo-words. Babble talks in the built-in
        languages not used for speech (all of them when fewer than 3 are left). Not for
        ``voices="piper"``: each Piper voice speaks its own language.
    seed : int
        Same seed and arguments, byte-identical files.
    reverb : float
        Probability (0-1) that a speech file, and independently an acoustic noise file
        (babble, clicks, fan), is rendered in a random shoebox room (RT60 0.2-0.8 s). The
        reverberant speech *is* the clean target: RNNoise v0.1 training mixes independent
        speech and noise files and learns to keep whatever the speech files hold, so this
        teaches it to keep room sound rather than to dereverberate (see docs/demo-data.md).
    hf_extension : bool
        Give speech (and babble) synthetic speech-correlated content above 9.5 kHz, so that
        a model trained on it does not learn to erase RNNoise's top bands.
    noise_types : sequence of str, optional
        Subset of :data:`NOISE_TYPES` (default: all).
    file_seconds : float
        Approximate length of each file.
    voices : {"espeak", "piper", "both"}
        Who speaks: espeak-ng in ``languages``; the Piper voices of
        :data:`~rnnoise_kit.audio.demo.piper.PIPER_VOICES` (natural neural voices, the
        optional extra ``rnnoise-kit[piper]``), ``speech_seconds`` split evenly over them; or
        half of ``speech_seconds`` each. Babble noise is espeak-ng in every case. Piper runs
        on one CPU thread at about 0.2 s per second of speech here, about ten times slower
        than espeak-ng.
    progress : bool
        Show a progress bar on a terminal.

    Returns
    -------
    DemoDataset

    Raises
    ------
    InputError
        Bad arguments, a language espeak-ng does not have, or a foreign output folder.
    rnnoise_kit.audio.demo.piper.PiperError
        Piper voices asked for without the optional extra installed.
    """
    t0 = time.perf_counter()
    root = Path(out_dir)
    manifest = root / MANIFEST_NAME
    seconds = check_settings({"speech_seconds": speech_seconds, "noise_seconds": noise_seconds},
                             dict.fromkeys(("speech_seconds", "noise_seconds"),
                                           Rule(float, minimum=0)))
    if sum(seconds.values()) <= 0:
        raise InputError(None, "speech_seconds and noise_seconds must be >= 0, not both 0")
    check_disk(root, int(sum(seconds.values()) * SAMPLE_RATE * 2),
               f"{sum(seconds.values()):g} s of 48 kHz 16-bit demo audio")
    if not 0.0 <= reverb <= 1.0:
        raise InputError(None, f"reverb is a probability in [0, 1], got {reverb}")
    if not file_seconds >= 1.0:
        raise InputError(None, f"file_seconds must be at least 1, got {file_seconds}")
    if voices not in SPEECH_VOICES:
        raise SettingError("voices", f"must be one of {', '.join(SPEECH_VOICES)} (got "
                                     f"{voices!r})")
    if voices == "piper" and languages is not None:
        raise InputError(None, "languages choose espeak-ng's languages; Piper voices speak "
                               "their own (use voices='both' for both)")
    piper_names = tuple(PIPER_VOICES) if voices != "espeak" else ()
    require_piper(piper_names)
    langs = tuple(() if voices == "piper" else
                  DEFAULT_LANGUAGES if languages is None else dict.fromkeys(languages))
    if not langs and voices != "piper":
        raise InputError(None, "no languages given")
    speech_langs = tuple(dict.fromkeys(
        [*langs, *(PIPER_VOICES[name].language for name in piper_names)]))
    known = _espeak.available_languages()
    missing = [lang for lang in langs if lang not in known]
    if missing:
        raise InputError(None, f"espeak-ng has no language {', '.join(missing)} (available: "
                               f"{', '.join(sorted(known))})")
    types = tuple(NOISE_TYPES if noise_types is None else dict.fromkeys(noise_types))
    bad = [t for t in types if t not in NOISE_TYPES]
    if bad or not types:
        raise InputError(None, f"unknown noise type(s) {', '.join(bad) or '(none)'} (choose "
                               f"from {', '.join(NOISE_TYPES)})")
    builtin = available_languages()
    babble = [lang for lang in builtin if lang not in speech_langs]
    if len(babble) < 3:
        babble = builtin
    params = manifest_params(speech_seconds, noise_seconds, speech_langs, babble, seed, reverb,
                             hf_extension, types, voices)

    remove_stale_temps(root, "")  # what a killed build left beside the folder
    old = reusable_build(root, manifest, params)
    if old is not None:
        return _dataset_from(root, manifest, old, 0.0, True)
    check_folder(root, manifest)

    variants = [None, *available_variants()]
    espeak_seconds = {"espeak": speech_seconds, "both": speech_seconds / 2}.get(voices, 0.0)
    speech_plan = [(lang, i, secs) for lang in langs
                   for i, secs in enumerate(_split(espeak_seconds / len(langs), file_seconds))]
    piper_plan = [(name, i, secs) for name in piper_names
                  for i, secs in enumerate(_split((speech_seconds - espeak_seconds)
                                                  / len(piper_names), file_seconds))]
    noise_plan = [(kind, i, secs) for kind in types
                  for i, secs in enumerate(_split(noise_seconds / len(types), file_seconds))]
    speech_entries, noise_entries = [], []
    total = len(speech_plan) + len(piper_plan) + len(noise_plan)
    with staging_folder(root) as stage, progress_bar(total, "demo data", enabled=progress) as bar:
        made: dict[str, float] = {}  # seconds written per speech folder so far

        def target_seconds(folder: str, i: int, secs: float) -> float:
            # files end at sentence boundaries: carry the folder's shortfall forward
            return max(secs * (i + 1) - made.get(folder, 0.0), 0.5 * secs)

        def write_speech(folder: str, name: str, i: int, native: np.ndarray, sr: int,
                         lead_s: float, tail_s: float, rng: np.random.Generator,
                         entry: dict) -> None:
            x = to_48k(native, sr)
            if hf_extension:
                x = extend_high_band(x, rng)
            lead = np.zeros(int(lead_s * SAMPLE_RATE))
            tail = np.zeros(int(tail_s * SAMPLE_RATE))
            x = np.concatenate([lead, x, tail])
            room = None
            if reverb > 0 and rng.random() < reverb:
                x, room = reverberate(x, rng)
            x = normalize_active(x, float(rng.uniform(-30.0, -20.0)))
            made[folder] = made.get(folder, 0.0) + x.size / SAMPLE_RATE
            rel = f"speech/{folder}/{name}_{i:03d}.wav"
            write_audio(stage / rel, x.astype(np.float32), SAMPLE_RATE, "PCM_16")
            texts = entry.pop("text")
            speech_entries.append({
                "path": rel, **entry, "seconds": round(x.size / SAMPLE_RATE, 3), "room": room,
                "bytes": (stage / rel).stat().st_size, "text": " ".join(texts),
            })
            bar.advance()

        for lang, i, secs in speech_plan:
            bar.update(info=f"speech {lang}")
            rng = rng_for(seed, "speech", lang, i)
            voice = draw_voice(lang, rng, variants)
            lead_s, tail_s = rng.uniform(0.1, 0.3, size=2)
            native, sr, texts = talk(voice, target_seconds(lang, i, secs) - lead_s - tail_s,
                                      rng, pause=(0.2, 0.6), exact=True)
            write_speech(lang, lang, i, native, sr, lead_s, tail_s, rng, {
                "language": lang, "voice": voice.name, "rate": voice.rate,
                "pitch": voice.pitch, "range": voice.pitch_range, "text": texts})
        talkers: dict[str, PiperTalker] = {}
        for name, i, secs in piper_plan:
            bar.update(info=f"speech piper {name}")
            if name not in talkers:  # its model noise is seeded once, when it is made
                talkers[name] = PiperTalker(name, seed=int(
                    rng_for(seed, "piper-session", name).integers(1 << 62)))
            talker = talkers[name]
            rng = rng_for(seed, "speech-piper", name, i)
            style = draw_style(rng)
            lead_s, tail_s = rng.uniform(0.1, 0.3, size=2)
            folder = f"piper-{name}"
            native, texts = talker.talk(target_seconds(folder, i, secs) - lead_s - tail_s, rng,
                                        style, pause=(0.2, 0.6))
            write_speech(folder, name, i, native, talker.sample_rate, lead_s, tail_s, rng, {
                "language": talker.package.language, "voice": f"piper:{name}",
                "length_scale": round(style.length_scale, 4),
                "noise_scale": round(style.noise_scale, 4),
                "noise_w": round(style.noise_w, 4), "text": texts})
        for kind, i, secs in noise_plan:
            bar.update(info=f"noise {kind}")
            rng = rng_for(seed, "noise-file", kind, i)
            info: dict = {}
            y = make_noise(kind, secs, int(rng.integers(1 << 62)), languages=babble,
                           hf_extension=hf_extension, info=info).astype(np.float64)
            room = None
            if reverb > 0 and kind not in _NOT_REVERBERATED and rng.random() < reverb:
                y, room = reverberate(y, rng)
                p = float(np.max(np.abs(y)))
                if p > 0.95:
                    y *= 0.95 / p
            rel = f"noise/{kind}/{kind}_{i:03d}.wav"
            write_audio(stage / rel, y.astype(np.float32), SAMPLE_RATE, "PCM_16")
            noise_entries.append({"path": rel, "type": kind,
                                  "seconds": round(y.size / SAMPLE_RATE, 3), "room": room,
                                  "bytes": (stage / rel).stat().st_size, **info})
            bar.advance()

        data = {
            "format": "rnnoise-kit demo data",
            "version": MANIFEST_VERSION,
            "params": params,
            "seed": int(seed),
            "sample_rate": SAMPLE_RATE,
            "languages": list(speech_langs),
            "babble_languages": list(babble),
            "voices": sorted({e["voice"] for e in speech_entries}),
            # Piper voices: package, version, license (absent from espeak-only builds)
            **({"piper": [t.info() for t in talkers.values()]} if talkers else {}),
            "noise_types": list(types),
            "hf_extension": bool(hf_extension),
            "reverb": float(reverb),
            "speech_seconds": round(sum(e["seconds"] for e in speech_entries), 3),
            "noise_seconds": round(sum(e["seconds"] for e in noise_entries), 3),
            "speech": speech_entries,
            "noise": noise_entries,
            "generator": generator_info(),
        }
        atomic_write_text(stage / MANIFEST_NAME,
                          json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        install_tree(stage, root, ("speech", "noise", MANIFEST_NAME), MANIFEST_NAME,
                     PLACEHOLDER)
    return _dataset_from(root, manifest, data, time.perf_counter() - t0, False)
