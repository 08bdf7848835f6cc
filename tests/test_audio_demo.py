"""Demo data: espeak-ng speech, high-band extension, generated noises, rooms, dataset layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from rnnoise_kit.audio import _espeak
from rnnoise_kit.audio.demo import (
    BABBLE_EXTRA_LANGUAGES,
    DEFAULT_LANGUAGES,
    NOISE_TYPES,
    available_languages,
    available_variants,
    extend_high_band,
    make_demo_dataset,
    make_noise,
    pseudo_sentence,
    reverberate,
    room_impulse_response,
    synth_speech,
)
from rnnoise_kit.errors import InputError

FS = 48000


def _psd(x: np.ndarray, nperseg: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    return signal.welch(np.asarray(x, dtype=np.float64), FS, nperseg=nperseg)


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    """Energy in [lo, hi) Hz relative to the total, in dB."""
    f, p = _psd(x, 2048)
    return float(10 * np.log10(p[(f >= lo) & (f < hi)].sum() / p.sum() + 1e-30))


def _slope_db_per_octave(x: np.ndarray) -> float:
    f, p = _psd(x)
    m = (f >= 100) & (f <= 10000)
    return float(np.polyfit(np.log2(f[m]), 10 * np.log10(p[m]), 1)[0])


# ------------------------------------------------------------------------------- speech


def test_bundled_data_has_languages_and_variants():
    langs = available_languages()
    assert len(langs) >= 16
    assert set(DEFAULT_LANGUAGES) <= set(langs)
    assert set(BABBLE_EXTRA_LANGUAGES) <= set(langs)
    variants = available_variants()
    for v in ("m1", "m7", "f1", "f4"):
        assert v in variants


def test_espeak_speaks_every_builtin_language():
    rng = np.random.default_rng(0)
    voiced = []
    for lang in available_languages():
        text = pseudo_sentence(lang, rng, (4, 6))
        x, rate = synth_speech(text, lang, hf_extension=False)
        assert rate == FS and x.dtype == np.float32
        assert x.size > 0.5 * FS, lang
        # non-silent, and speech-like: loud frames and pauses
        frames = x[: x.size // 480 * 480].reshape(-1, 480)
        level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        assert level.max() > -30, lang
        voiced.append(lang)
    assert len(voiced) >= 10


def test_espeak_native_output_is_int16_at_22050():
    samples, rate = _espeak.synthesize("Hello world.", "en")
    assert rate == 22050
    assert samples.dtype == np.int16 and np.abs(samples).max() > 1000


def test_espeak_unknown_voice_raises():
    with pytest.raises(_espeak.EspeakError):
        _espeak.synthesize("hello", "xx-nonexistent")


def test_an_interrupt_during_synthesis_is_not_lost(monkeypatch):
    """Ctrl-C (or the CLI's SIGTERM, a KeyboardInterrupt) raised while espeak calls back into
    Python used to be dropped by ctypes, so `demo` went on and ended with exit 0 after SIGTERM."""
    real = np.ctypeslib.as_array
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(np.ctypeslib, "as_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _espeak.synthesize("A sentence long enough for several callbacks, surely.", "en")
    monkeypatch.setattr(np.ctypeslib, "as_array", real)
    samples, _ = _espeak.synthesize("Hello world.", "en")  # the library is usable after
    assert np.abs(samples).max() > 1000


def test_sigterm_during_synthesis_ends_the_demo_data_build(tmp_path):
    """The signal is held while espeak runs and handled as soon as it returns."""
    code = (
        "import os, signal, threading\n"
        "from rnnoise_kit.audio import _espeak\n"
        "def on_term(*a): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
        "try:\n"
        "    for _ in range(400):\n"
        "        _espeak.synthesize('A sentence to keep espeak busy for a while. ' * 4, 'en')\n"
        "except KeyboardInterrupt:\n"
        "    raise SystemExit(143)\n"
        "raise SystemExit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 143, r.stderr[-2000:]


def test_synthesis_is_reproducible_whatever_came_before():
    a, _ = synth_speech("Guten Abend, wie geht es?", "de", voice_variant="m3", rate=160,
                        pitch=40, seed=5)
    synth_speech("Une autre phrase, pour changer l'état.", "fr", voice_variant="klatt")
    b, _ = synth_speech("Guten Abend, wie geht es?", "de", voice_variant="m3", rate=160,
                        pitch=40, seed=5)
    assert np.array_equal(a, b)


def test_variant_rate_and_pitch_change_the_voice():
    text = "The morning train is always late."
    base, _ = synth_speech(text, "en", hf_extension=False)
    fast, _ = synth_speech(text, "en", rate=260, hf_extension=False)
    assert fast.size < 0.8 * base.size
    female, _ = synth_speech(text, "en", voice_variant="f2", pitch=70, hf_extension=False)

    def f0(x):  # median autocorrelation pitch of the loudest frames, crude but enough
        fr = x[: x.size // 1920 * 1920].reshape(-1, 1920).astype(np.float64)
        fr = fr[np.argsort((fr**2).sum(axis=1))[-20:]]
        lags = []
        for v in fr:
            ac = np.correlate(v, v, "full")[1919:]
            lo, hi = FS // 400, FS // 60
            lags.append(lo + int(np.argmax(ac[lo:hi])))
        return FS / float(np.median(lags))

    assert f0(female) > 1.3 * f0(base)


def test_pseudo_sentences_use_the_word_lists():
    rng = np.random.default_rng(1)
    s = pseudo_sentence("de", rng)
    assert s[0].isupper() and s[-1] in ".?!"
    assert 4 <= len(s.split()) <= 11
    # a language without a list gets pseudo-words
    assert pseudo_sentence("eo", rng).strip()


# ------------------------------------------------------------------- high-band extension


def test_hf_extension_puts_speech_correlated_energy_above_12k():
    text = "Sechs schnelle Schwestern sassen still, sagte sie."
    dry, _ = synth_speech(text, "de", hf_extension=False)
    ext, _ = synth_speech(text, "de", hf_extension=True)
    assert dry.size == ext.size
    assert _band_db(dry, 12000, 20000) < -80  # espeak has nothing up there
    hf = _band_db(ext, 12000, 20000)
    assert -45 < hf < -18
    # the band below 9 kHz is untouched (within filter leakage)
    f, p_dry = _psd(dry, 2048)
    _, p_ext = _psd(ext, 2048)
    low = f < 8000
    assert np.allclose(10 * np.log10(p_ext[low] + 1e-20), 10 * np.log10(p_dry[low] + 1e-20),
                       atol=0.5)
    # the added band follows the speech: its frame energies correlate with the 4-8 kHz band
    sos_hi = signal.butter(8, 12000, "highpass", fs=FS, output="sos")
    sos_mid = signal.butter(4, (4000, 8000), "bandpass", fs=FS, output="sos")
    n = ext.size // 480 * 480

    def frame_db(x):
        return 10 * np.log10((x[:n].reshape(-1, 480) ** 2).mean(axis=1) + 1e-14)

    hi_e = frame_db(signal.sosfilt(sos_hi, ext.astype(np.float64)))
    mid_e = frame_db(signal.sosfilt(sos_mid, ext.astype(np.float64)))
    assert np.corrcoef(hi_e, mid_e)[0, 1] > 0.8


def test_hf_extension_level_and_silence():
    rng = np.random.default_rng(0)
    x, _ = synth_speech("Hello there.", "en", hf_extension=False)
    for level in (-30.0, -20.0):
        y = extend_high_band(x.astype(np.float64), np.random.default_rng(3), level_db=level)
        added = y - x
        ratio = 10 * np.log10(np.sum(added**2) / np.sum(x.astype(np.float64) ** 2))
        assert ratio == pytest.approx(level, abs=0.01)
    assert not np.any(extend_high_band(np.zeros(4800), rng))


# --------------------------------------------------------------------------------- noise


@pytest.mark.parametrize(("kind", "slope"), [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_colored_noise_slopes(kind, slope):
    x = make_noise(kind, 3.0, seed=2)
    assert x.dtype == np.float32 and x.size == 3 * FS
    assert _slope_db_per_octave(x) == pytest.approx(slope, abs=0.4)
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=0.01)


def test_every_noise_is_reproducible_and_seeded():
    for kind in NOISE_TYPES:
        a = make_noise(kind, 1.0, seed=7)
        b = make_noise(kind, 1.0, seed=7)
        c = make_noise(kind, 1.0, seed=8)
        assert np.array_equal(a, b), kind
        assert not np.array_equal(a, c), kind
        assert np.isfinite(a).all() and np.abs(a).max() <= 0.95, kind


def test_hum_has_mains_harmonics():
    for seed in range(4):
        info: dict = {}
        x = make_noise("hum", 4.0, seed=seed, info=info)
        f0 = info["mains_hz"]
        assert f0 in (50.0, 60.0)
        f, p = _psd(x, 48000)  # 1 Hz resolution
        db = 10 * np.log10(p + 1e-20)
        for k in range(1, 8):
            on = db[int(k * f0)]
            between = db[int((k + 0.5) * f0)]
            assert on > between + 30, (seed, k)
        # the strongest component sits on a harmonic
        assert int(np.argmax(p)) % int(f0) in (0, 1, int(f0) - 1)


def test_clicks_are_sparse_transients():
    info: dict = {}
    x = make_noise("clicks", 4.0, seed=1, info=info).astype(np.float64)
    rms = np.sqrt(np.mean(x**2))
    assert np.abs(x).max() / rms > 15  # high crest factor
    frames = (x[: x.size // 480 * 480].reshape(-1, 480) ** 2).mean(axis=1)
    db = 10 * np.log10(frames + 1e-20)
    assert np.mean(db > db.max() - 20) < 0.3  # mostly quiet between events
    assert info["events_per_s"] > 1


def test_fan_is_low_band_modulated_and_tonal():
    info: dict = {}
    x = make_noise("fan", 6.0, seed=3, info=info).astype(np.float64)
    assert _band_db(x, 0, 5000) > -0.5  # energy sits low
    assert _band_db(x, 12000, 24000) < -25
    f, p = _psd(x, 48000)
    bpf = info["blade_pass_hz"]
    k = int(round(bpf))
    neighbourhood = np.median(p[k - 20: k + 20])
    assert p[k - 1: k + 2].max() > 10 * neighbourhood  # a tonal peak at the blade-pass rate
    # slow amplitude modulation: the 100 ms envelope varies
    env = np.sqrt((x[: x.size // 4800 * 4800].reshape(-1, 4800) ** 2).mean(axis=1))
    assert env.std() / env.mean() > 0.02


def test_babble_is_several_talkers_in_other_languages():
    info: dict = {}
    x = make_noise("babble", 3.0, seed=4, info=info, languages=["fi", "hu"])
    assert 3 <= info["talkers"] <= 6
    assert all(v.split("+")[0] in ("fi", "hu") for v in info["voices"])
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=0.05)
    assert _band_db(x, 0, 4000) > -3  # speech-shaped
    assert _band_db(x, 12000, 20000) > -45  # babble gets the high-band extension too


def test_make_noise_rejects_bad_arguments():
    with pytest.raises(InputError):
        make_noise("thunder", 1.0)
    with pytest.raises(InputError):
        make_noise("white", 0.0)


# --------------------------------------------------------------------------------- rooms


@pytest.mark.parametrize("rt60", [0.3, 0.7])
def test_room_impulse_response_has_the_requested_rt60(rt60):
    rir, info = room_impulse_response(np.random.default_rng(11), rt60=rt60)
    assert info["rt60"] == pytest.approx(rt60)
    assert np.argmax(np.abs(rir)) < 0.01 * FS and np.max(np.abs(rir)) == pytest.approx(1.0)
    # Schroeder backward integration, T30 extrapolated to 60 dB
    edc = np.cumsum(rir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    t5 = np.argmax(edc_db < -5) / FS
    t35 = np.argmax(edc_db < -35) / FS
    assert 2 * (t35 - t5) == pytest.approx(rt60, rel=0.25)


def test_reverberate_keeps_length_and_level():
    x, _ = synth_speech("Hello there, how are you?", "en")
    y, info = reverberate(x.astype(np.float64), np.random.default_rng(0))
    assert y.size == x.size and 0.2 <= info["rt60"] <= 0.8
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x.astype(float) ** 2)))


# ------------------------------------------------------------------------------- dataset


def _small(out: Path, **kw):
    args = dict(speech_seconds=9.0, noise_seconds=7.0, languages=["en", "de", "ru"], seed=3,
                file_seconds=2.5, progress=False)
    args.update(kw)
    return make_demo_dataset(out, **args)


def test_a_tiny_speech_budget_still_speaks_a_sentence_per_language(tmp_path):
    """Half a second a language left no time after the leading and trailing pauses; the
    talker then returned nothing and the build failed (ValueError) instead of writing one
    short file per language."""
    ds = _small(tmp_path / "demo", speech_seconds=1.5, noise_seconds=1.0, noise_types=["white"])
    speech = ds.speech_files()
    assert sorted(p.parent.name for p in speech) == ["de", "en", "ru"]
    assert all(sf.info(str(p)).frames > 0.2 * FS for p in speech)


def test_dataset_layout_and_manifest(tmp_path):
    ds = _small(tmp_path / "demo")
    root = tmp_path / "demo"
    assert ds.root == root and ds.manifest == root / "demo.json"
    assert sorted(p.name for p in (root / "speech").iterdir()) == ["de", "en", "ru"]
    assert sorted(p.name for p in (root / "noise").iterdir()) == sorted(NOISE_TYPES)
    for path in ds.speech_files() + ds.noise_files():
        assert path.suffix == ".wav"
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (FS, 1, "PCM_16")
        assert 0.9 <= info.frames / FS <= 4.0
    data = json.loads(ds.manifest.read_text(encoding="utf-8"))
    assert data["seed"] == 3 and data["sample_rate"] == FS
    assert data["languages"] == ["en", "de", "ru"]
    assert data["noise_types"] == list(NOISE_TYPES)
    assert data["hf_extension"] is True and data["reverb"] == 0.0
    assert set(data["babble_languages"]).isdisjoint({"en", "de", "ru"})
    assert data["voices"] and all(v.split("+")[0] in ("en", "de", "ru") for v in data["voices"])
    for entry in data["speech"]:
        assert {"path", "language", "voice", "rate", "pitch", "seconds", "text"} <= set(entry)
        assert (root / entry["path"]).is_file()
    assert data["speech_seconds"] == pytest.approx(9.0, rel=0.2)
    assert data["noise_seconds"] == pytest.approx(7.0, rel=0.01)
    assert ds.speech_seconds == data["speech_seconds"] and ds.seed == 3
    assert not ds.reused


def test_dataset_is_byte_identical_for_a_seed(tmp_path):
    a = _small(tmp_path / "a", reverb=1.0)
    b = _small(tmp_path / "b", reverb=1.0)
    c = _small(tmp_path / "c", seed=4, noise_types=["pink"])
    files_a = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    assert (a.root / "speech/en/en_000.wav").read_bytes() != (
        c.root / "speech/en/en_000.wav").read_bytes()
    data = json.loads(a.manifest.read_text(encoding="utf-8"))
    assert all(e["room"] and 0.2 <= e["room"]["rt60"] <= 0.8 for e in data["speech"])
    assert all(e["room"] is None for e in data["noise"] if e["type"] in ("white", "hum"))


def test_dataset_reuse_rebuild_and_foreign_folders(tmp_path):
    root = tmp_path / "demo"
    first = _small(root)
    again = _small(root)
    assert again.reused and again.files == first.files
    # different arguments rebuild and drop files the new build does not make
    rebuilt = _small(root, languages=["en"], noise_types=["white"])
    assert not rebuilt.reused
    assert not (root / "speech" / "de").exists() and not (root / "noise" / "pink").exists()
    assert sorted(p.name for p in (root / "speech").iterdir()) == ["en"]
    # a damaged file makes it rebuild
    victim = rebuilt.speech_files()[0]
    victim.write_bytes(b"broken")
    assert not _small(root, languages=["en"], noise_types=["white"]).reused
    # a folder with someone else's data is refused
    foreign = tmp_path / "foreign"
    (foreign / "speech").mkdir(parents=True)
    (foreign / "speech" / "mine.wav").write_bytes(b"x")
    with pytest.raises(InputError, match="not a demo-data folder"):
        _small(foreign)


def _killed_at_write(k: int, root: Path, **kwargs) -> None:
    """Build the demo data in a child that SIGKILLs itself after its ``k``-th audio file."""
    code = ("import os, signal\nimport rnnoise_kit.audio.demo.dataset as d\n"
            "_real, _n = d.write_audio, [0]\n"
            "def _write(*a, **k):\n"
            "    _real(*a, **k)\n"
            "    _n[0] += 1\n"
            f"    if _n[0] == {k}:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "d.write_audio = _write\n"
            f"d.make_demo_dataset({str(root)!r}, progress=False, **{kwargs!r})\n")
    src = str(Path(__file__).parents[1] / "src")
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": src})
    assert r.returncode == -9


def _bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_killed_build_is_never_trusted_and_a_rerun_completes_it(tmp_path):
    """A build killed midway wrote over an earlier build's files in place: with the same
    sizes (white noise of another seed), the earlier demo.json still matched them and the
    rerun reused the mixture; a first build killed midway left speech/ without demo.json,
    which the rerun then refused as foreign."""
    root = tmp_path / "demo"
    noise_only = {"speech_seconds": 0.0, "noise_seconds": 4.0, "noise_types": ["white"],
                  "file_seconds": 2.0}
    first = make_demo_dataset(root, seed=3, progress=False, **noise_only)
    before = _bytes(root)
    _killed_at_write(1, root, seed=4, **noise_only)
    again = make_demo_dataset(root, seed=3, progress=False, **noise_only)
    assert again.reused and _bytes(root) == before and again.files == first.files
    assert sorted(os.listdir(tmp_path)) == ["demo"]  # the killed build's staging is gone

    fresh = tmp_path / "fresh"
    kw = {"speech_seconds": 3.0, "noise_seconds": 2.0, "languages": ["en"],
          "noise_types": ["white"], "file_seconds": 1.5, "seed": 3}
    _killed_at_write(1, fresh, **kw)
    ds = make_demo_dataset(fresh, progress=False, **kw)
    assert not ds.reused and len(ds.files) == 3
    assert sorted(_bytes(fresh)) == sorted(["demo.json", *(f.path for f in ds.files)])


def test_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="no language"):
        _small(tmp_path / "x", languages=["xx-nowhere"])
    with pytest.raises(InputError):
        _small(tmp_path / "x", reverb=1.5)
    with pytest.raises(InputError):
        _small(tmp_path / "x", noise_types=["thunder"])
    with pytest.raises(InputError):
        _small(tmp_path / "x", speech_seconds=0.0, noise_seconds=0.0)
