"""Features, offline vs streaming vs blocks, training mode, pitch filter, synthesis."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import (
    blocks_and_streaming_cases,
    check_blocks_and_streaming,
    check_training_variant,
    voiced_audio,
)
from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.features import (
    AnalysisState,
    StreamingAnalyzer,
    analyse,
    dump_features,
    frame_analysis,
    pitch_filter,
)


def _audio(n_frames, seed=0, silent_frames=()):
    return voiced_audio(n_frames, seed, silent_frames)


def test_shapes_and_types():
    r = analyse(_audio(12))
    assert r.X.shape == (12, 481) and r.X.dtype == np.complex64
    assert r.features.shape == (12, 42) and r.features.dtype == np.float32
    assert r.silence.dtype == np.bool_ and r.pitch_period.dtype == np.int32
    assert len(r) == 12
    with pytest.raises(ValueError):
        analyse(np.zeros(1000, np.float32))


@blocks_and_streaming_cases(max_examples=15)
def test_offline_blocks_and_streaming_agree(seed, n, cuts, gain, highpass):
    x = _audio(n, seed, silent_frames=range(0, n, 7)) * np.float32(gain)
    check_blocks_and_streaming(analyse, AnalysisState, StreamingAnalyzer, x, cuts, highpass)


def test_offline_streaming_agree_on_reference(reference):
    from rnnoise_kit.audio.io import read_mono_48k

    x = read_mono_48k(reference / "audio" / "mix_gap.wav")[480 * 40 : 480 * 100]
    whole = analyse(x)
    sa = StreamingAnalyzer()
    for t in range(60):
        fr = sa.process(x[480 * t : 480 * t + 480])
        assert np.array_equal(fr.features, whole.features[t]) and fr.silence == whole.silence[t]


def test_silence_rule():
    x = _audio(30, 1, silent_frames=range(10, 20))
    r = analyse(x, highpass=False)  # (the high-pass rings on for several frames)
    # frames whose whole window lies in the digital silence are silent
    assert r.silence[11:20].all() and not r.silence[:10].any()
    assert np.all(r.features[r.silence] == 0)
    assert np.all(r.pitch_period > 0)  # pitch still runs on silent frames
    # the cepstral ring is untouched by silent frames
    st1 = AnalysisState()
    analyse(x[: 480 * 11], st1, highpass=False)  # frame 10 still sees frame 9
    ring = st1.cepstral_mem.copy(), st1.memid
    assert analyse(x[480 * 11 : 480 * 20], st1, highpass=False).silence.all()
    assert np.array_equal(st1.cepstral_mem, ring[0]) and st1.memid == ring[1]


def test_training_mode():
    x = _audio(20, 2, silent_frames=range(5, 12))
    lowpass = np.array([481] * 10 + [100] * 10)
    r, _ = check_training_variant(analyse, x, lowpass)
    # frame_analysis alone gives the same X and Ex as the full analysis
    X, Ex, mem = frame_analysis(x, lowpass=lowpass)
    assert np.array_equal(X, r.X) and np.array_equal(Ex, r.Ex)
    X1, _, m1 = frame_analysis(x[:4800], lowpass=lowpass[:10])
    X2, _, _ = frame_analysis(x[4800:], m1, lowpass=lowpass[10:])
    assert np.array_equal(np.concatenate([X1, X2]), X)


def test_features_kernel_numba_vs_python():
    x = _audio(12, 4, silent_frames=[3])
    r = analyse(x)
    for training in (False, True):
        outs = []
        for fn in (K.features_frames, K.features_frames.py_func):
            cm = np.zeros((8, 22), np.float32)
            arrs = (
                [np.empty((12, 42), np.float32), np.empty(12, np.bool_)]
                + [np.empty((12, 22), np.float32) for _ in range(3)]
                + [np.empty(12, np.float32)]
            )
            memid = fn(
                r.X.view(np.float32), r.P.view(np.float32), r.pitch_period, training, cm, 0, *arrs
            )
            outs.append((memid, cm, *arrs))
        for a, b in zip(*outs, strict=True):
            assert np.array_equal(a, b)


def test_pitch_filter_numba_vs_python_and_properties():
    r = analyse(_audio(10, 5))
    g = np.random.default_rng(0).random((10, 22)).astype(np.float32)
    Y = pitch_filter(r.X, r.P, r.Ex, r.Ep, r.Exp, g)
    assert Y.shape == (10, 481) and Y.dtype == np.complex64 and np.all(Y[:, 400:] == 0)
    ref = K.pitch_filter_batch.py_func(
        r.X.view(np.float32), r.P.view(np.float32), r.Ex, r.Ep, r.Exp, g
    )
    assert np.array_equal(Y.view(np.float32), ref)
    assert np.array_equal(
        pitch_filter(r.X[3:4], r.P[3:4], r.Ex[3:4], r.Ep[3:4], r.Exp[3:4], g[3:4]), Y[3:4]
    )


def test_dump_features_table():
    x = _audio(9)
    tab = dump_features(np.concatenate([x, np.zeros(100, np.float32)]), block_frames=4)
    r = analyse(x)
    assert tab.shape == (9, 66) and tab.dtype == np.float32
    assert np.array_equal(tab[:, :42], r.features)
    assert np.array_equal(tab[:, 42], r.silence.astype(np.float32))
    assert np.array_equal(tab[:, 43], r.pitch_period.astype(np.float32))
    assert np.array_equal(tab[:, 44:], r.Ex)


def test_fused_kernel_equals_step_by_step_composition():
    # analyse() runs one fused kernel; rebuild its outputs from the public single-step functions
    from rnnoise_kit.dsp.bands import band_corr, band_energy
    from rnnoise_kit.dsp.biquad import highpass
    from rnnoise_kit.dsp.pitch import frame_pitch
    from rnnoise_kit.dsp.transform import apply_window, forward_transform

    n = 15
    x = _audio(n, 9)
    r = analyse(x)
    y, _ = highpass(x)
    xp = np.concatenate([np.zeros(1728, np.float32), y])
    period, gain = 0, np.float32(0)
    for t in range(n):
        buf = xp[480 * (t + 1) : 480 * (t + 1) + 1728]
        period, gain = frame_pitch(buf, period, gain)
        assert period == r.pitch_period[t] and gain == r.pitch_gain[t]
        X = forward_transform(apply_window(buf[768:]))
        P = forward_transform(apply_window(buf[768 - period : 1728 - period]))
        assert np.array_equal(X, r.X[t]) and np.array_equal(P, r.P[t])
        ex, ep, exy = band_energy(X), band_energy(P), band_corr(X, P)
        assert np.array_equal(ex, r.Ex[t]) and np.array_equal(ep, r.Ep[t])
        norm = exy.astype(np.float64) / np.sqrt(0.001 + (ex * ep).astype(np.float64))
        assert np.array_equal(norm.astype(np.float32), r.Exp[t])
