"""Built-in demo data: multilingual espeak-ng speech and generated noise, made offline.

``rnnoise-kit demo`` needs clean speech and noise without downloading or shipping audio. This
package synthesises both at run time:

* **speech**: pseudo-sentences from small built-in word lists in 16 languages, spoken by the
  espeak-ng library bundled with ``espeakng-loader`` (driven through ctypes, see
  :mod:`rnnoise_kit.audio._espeak`; no system espeak-ng is used) with random voice variants
  (``+m1``..``+m7``, ``+f1``..``+f4``, klatt), rates, pitches and pitch ranges, resampled
  22050 -> 48 kHz with soxr;
* **high-band extension**: espeak-ng output stops near 10 kHz (22050 Hz sampling). A model
  trained on such "clean" speech mixed with full-band noise would learn that the top RNNoise
  bands (up to 20 kHz) never hold speech and erase them. With ``hf_extension=True`` (the
  default) every utterance gets synthetic content above ~9.5 kHz that follows the speech: a
  mix of a full-wave-rectified copy of its 3-8 kHz band (keeps voicing periodicity) and noise
  shaped by the 4-8 kHz envelope (fricative-like), high-passed, gently tilted and set
  20-30 dB below the utterance's level (see ``docs/demo-data.md``);
* **noise**: white, pink, brown, mains hum (50/60 Hz with harmonics), babble (3-6 espeak
  talkers in other languages), clicks/keyboard transients and fan noise (band-passed, slowly
  modulated, with tonal components);
* optional **reverberation**: pyroomacoustics shoebox rooms (RT60 0.2-0.8 s).

Everything is seeded: the same arguments give byte-identical files. Each file draws from its
own random stream (seed, kind, label, index), so adding a language does not change the others.

Modules, by concern: :mod:`~rnnoise_kit.audio.demo.text` (word lists, pseudo-sentences),
:mod:`~rnnoise_kit.audio.demo.speech` (espeak-ng utterances, high band, talkers),
:mod:`~rnnoise_kit.audio.demo.noise` (the seven noise kinds),
:mod:`~rnnoise_kit.audio.demo.rooms` (impulse responses, reverberation),
:mod:`~rnnoise_kit.audio.demo.dataset` (:func:`make_demo_dataset`) and
:mod:`~rnnoise_kit.audio.demo.cache` (``demo.json``: reuse of an identical build). Running the
whole pipeline on this data is :func:`rnnoise_kit.pipeline.run_demo`.

Examples
--------
>>> ds = make_demo_dataset("demo-data", speech_seconds=60, noise_seconds=60)  # doctest: +SKIP
>>> ds.speech_dir, ds.noise_dir  # doctest: +SKIP
"""

from rnnoise_kit.audio.demo.dataset import DemoDataset, DemoFile, make_demo_dataset
from rnnoise_kit.audio.demo.noise import NOISE_TYPES, make_noise
from rnnoise_kit.audio.demo.rooms import reverberate, room_impulse_response
from rnnoise_kit.audio.demo.speech import (
    VOICE_VARIANTS,
    available_variants,
    extend_high_band,
    synth_speech,
)
from rnnoise_kit.audio.demo.text import (
    BABBLE_EXTRA_LANGUAGES,
    DEFAULT_LANGUAGES,
    WORDS,
    available_languages,
    pseudo_sentence,
)

__all__ = [
    "BABBLE_EXTRA_LANGUAGES",
    "DEFAULT_LANGUAGES",
    "NOISE_TYPES",
    "VOICE_VARIANTS",
    "WORDS",
    "DemoDataset",
    "DemoFile",
    "available_languages",
    "available_variants",
    "extend_high_band",
    "make_demo_dataset",
    "make_noise",
    "pseudo_sentence",
    "reverberate",
    "room_impulse_response",
    "synth_speech",
]
