"""Sanity of the evaluation metrics, the alignment and DNSMOS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.io import resample
from rnnoise_kit.evaluation import align as al
from rnnoise_kit.evaluation import metrics as mt


@pytest.fixture(scope="module")
def speech(reference) -> tuple[np.ndarray, int]:
    """About 8 s of the espeak reference speech, mono float at 48 kHz."""
    x, rate = sf.read(str(reference / "audio" / "speech_a.wav"), dtype="float64")
    return x[: 8 * rate], rate


@pytest.fixture(scope="module")
def noise(reference) -> np.ndarray:
    x, _ = sf.read(str(reference / "audio" / "noise_a.wav"), dtype="float64")
    return x


def test_si_sdr_scale_invariant():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(16000)
    assert mt.si_sdr(s, 0.3 * s) > 150
    n = rng.standard_normal(16000)
    a, b = mt.si_sdr(s, s + 0.1 * n), mt.si_sdr(s, 5.0 * (s + 0.1 * n))
    assert a == pytest.approx(b, abs=1e-9) and a == pytest.approx(20.0, abs=0.5)
    assert math.isnan(mt.si_sdr(np.zeros(100), s[:100]))


def test_segmental_snr():
    rng = np.random.default_rng(1)
    s = rng.standard_normal(16000)
    assert mt.segmental_snr(s, s) == 35.0
    assert mt.segmental_snr(s, s + 0.1 * rng.standard_normal(16000)) == pytest.approx(20, abs=1)
    assert mt.segmental_snr(s, np.zeros_like(s)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("delay", [0, 480, 37, -250])
def test_alignment_of_delayed_copy(delay):
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(48000)
    delayed = np.concatenate([np.zeros(delay), ref])[:48000] if delay >= 0 else ref[-delay:]
    assert al.estimate_delay(ref, delayed, 960) == delay
    aligned, d = al.align(ref, delayed, 960)
    assert d == delay and aligned.shape == ref.shape
    if delay >= 0:
        np.testing.assert_array_equal(aligned[: 48000 - delay], ref[: 48000 - delay])
    else:
        np.testing.assert_array_equal(aligned[-delay:], ref[-delay:])


def test_alignment_is_bounded():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(20000)
    far = np.concatenate([np.zeros(5000), ref])
    assert al.estimate_delay(ref, far, 5000) == 5000
    assert abs(al.estimate_delay(ref, far, 1000)) <= 1000
    assert al.estimate_delay(np.zeros(100), ref[:100], 10) == 0


def test_pesq_stoi_of_speech_against_itself(speech):
    x, rate = speech
    x16 = resample(x, rate, 16000)
    assert mt.pesq_wb(x16, x16) > 4.5
    assert mt.stoi(x16, x16) == pytest.approx(1.0, abs=1e-6)
    assert mt.stoi(x16, x16, extended=True) == pytest.approx(1.0, abs=1e-6)


def test_intrusive_metrics_order_with_noise_and_delay(speech, noise):
    x, rate = speech
    noisy = x + 0.5 * noise[: x.size]
    clean_d = np.concatenate([np.zeros(480), x])[: x.size]  # a delayed perfect output
    perfect = mt.intrusive_metrics(x, clean_d, rate)
    assert perfect["delay"] == 480
    # the last 10 ms of speech are lost to the delay: PESQ is not quite 4.64
    assert perfect["pesq"] > 4.0 and perfect["stoi"] > 0.99 and perfect["si_sdr"] > 25
    bad = mt.intrusive_metrics(x, noisy, rate)
    assert bad["delay"] == 0
    for k in ("pesq", "stoi", "estoi", "si_sdr", "segsnr"):
        assert bad[k] < perfect[k], k
    assert 1.0 <= bad["pesq"] < 3.0


def test_pesq_of_silence_is_nan():
    assert math.isnan(mt.pesq_wb(np.zeros(16000), np.zeros(16000)))
    assert math.isnan(mt.stoi(np.zeros(16000), np.zeros(16000)))


def test_dnsmos_silence_speech_noise(speech, noise):
    pytest.importorskip("onnxruntime")
    from rnnoise_kit.evaluation.dnsmos import Dnsmos

    x, rate = speech
    d = Dnsmos()
    clean = d(x, rate)
    silent = d(np.zeros(rate * 4), rate)
    noisy = d(x + 0.5 * noise[: x.size], rate)
    for s in (clean, silent, noisy):
        assert set(s) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}
        assert all(0.5 < v < 5.5 for v in s.values())
    assert silent["dnsmos_ovrl"] < 2.0 and silent["dnsmos_sig"] < clean["dnsmos_sig"]
    assert clean["dnsmos_ovrl"] > noisy["dnsmos_ovrl"] + 0.3
    assert clean["dnsmos_bak"] > noisy["dnsmos_bak"] + 0.5


def test_dnsmos_matches_speechmos(speech):
    """Our direct onnxruntime call gives speechmos's numbers (its model and calibration)."""
    pytest.importorskip("onnxruntime")
    sm = pytest.importorskip("speechmos.dnsmos")
    from rnnoise_kit.evaluation.dnsmos import Dnsmos

    x, rate = speech
    x16 = np.clip(resample(x, rate, 16000), -1, 1)
    ours = Dnsmos()(x16, 16000)
    theirs = sm.run(x16, 16000)
    assert ours["dnsmos_ovrl"] == pytest.approx(theirs["ovrl_mos"], abs=1e-4)
    assert ours["dnsmos_sig"] == pytest.approx(theirs["sig_mos"], abs=1e-4)
    assert ours["dnsmos_bak"] == pytest.approx(theirs["bak_mos"], abs=1e-4)


def test_missing_dependency_message(monkeypatch):
    import sys

    from rnnoise_kit.errors import InputError
    from rnnoise_kit.evaluation._deps import require

    monkeypatch.setitem(sys.modules, "pesq", None)  # makes "import pesq" fail
    with pytest.raises(InputError, match=r"pip install 'rnnoise-kit\[eval\]'"):
        require("pesq")
