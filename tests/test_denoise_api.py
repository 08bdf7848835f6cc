"""Denoiser API: shapes, rates, dtypes, channels, streaming, VAD threshold, independence.

These use a small random model of the v0.1 shape (so they run without ../shared) and short
generated signals.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import GENERATIONS, small_model, stream_in_chunks
from rnnoise_kit.denoise import Denoiser
from rnnoise_kit.errors import AudioError, InputError
from rnnoise_kit.model import RNNoiseModel, random_model


@pytest.fixture(scope="module")
def model() -> RNNoiseModel:
    return random_model()


@pytest.fixture(scope="module", params=GENERATIONS)
def any_model(request):
    """A small model of each generation: what holds for both."""
    return small_model(request.param)


def noisy_signal(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
    out = np.stack([tone + 0.05 * rng.standard_normal(n) for _ in range(channels)], axis=1)
    return out[:, 0] if channels == 1 else out


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_shape_rate_dtype_round_trip(any_model, rate, channels, dtype):
    x = noisy_signal(0.37, rate, channels)
    if dtype is np.int16:
        x = (x * 32767).astype(np.int16)
    else:
        x = x.astype(dtype)
    y, vad = Denoiser(any_model).denoise(x, rate)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert np.isfinite(y.astype(np.float64)).all()
    assert vad.ndim == (1 if channels == 1 else 2)
    assert not np.array_equal(y, x)


def test_channels_are_independent(any_model):
    x = noisy_signal(0.5, 48000, 2)
    d = Denoiser(any_model)
    y, vad = d.denoise(x, 48000)
    for c in range(2):
        yc, vadc = d.denoise(x[:, c], 48000)
        np.testing.assert_array_equal(y[:, c], yc)
        np.testing.assert_array_equal(vad[:, c], vadc)


def test_delay_compensation_shifts_by_one_frame(model):
    x = noisy_signal(0.5, 48000)
    raw, _ = Denoiser(model, compensate_delay=False).denoise(x, 48000)
    aligned, _ = Denoiser(model, compensate_delay=True).denoise(x, 48000)
    np.testing.assert_array_equal(aligned[: x.size - 480], raw[480:])


def test_calls_are_independent_and_thread_safe(any_model):
    """Several calls per thread: the 0.2 network keeps work buffers, one per thread."""
    d = Denoiser(any_model)
    signals = [noisy_signal(0.4, 48000, seed=s) for s in range(4)]
    expected = [d.denoise(s, 48000)[0] for s in signals]
    results: list = [None] * 4

    def work(i):
        for _ in range(3):
            results[i] = d.denoise(signals[i], 48000)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=15, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 2000), min_size=1, max_size=12),
    rate=st.sampled_from([16000, 48000]),
    compensate=st.booleans(),
)
def test_stream_equals_offline(sizes, rate, compensate):
    model = _MODEL
    x = noisy_signal(sum(sizes) / rate, rate)[: sum(sizes)].astype(np.float32)
    d = Denoiser(model, compensate_delay=compensate)
    want, vad = d.denoise(x, rate)
    got, stream = stream_in_chunks(d, x, rate, sizes)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stream.vad[:, 0], vad)


_MODEL = random_model()


def test_stream_carries_state_until_reset(model):
    x = noisy_signal(0.3, 48000).astype(np.float32)[:14400]  # whole frames
    d = Denoiser(model, compensate_delay=False)
    stream = d.stream(48000)
    first = stream.process(x)
    second = stream.process(x)
    assert not np.array_equal(first, second)  # state carried from the first pass
    stream.reset()
    np.testing.assert_array_equal(stream.process(x), first)


def test_vad_threshold_drops_frames(model):
    x = noisy_signal(1.0, 48000)
    d = Denoiser(model, compensate_delay=False)
    full, vad = d.denoise(x, 48000)
    thr = float(np.median(vad))
    y, _ = Denoiser(model, compensate_delay=False, vad_threshold=thr).denoise(x, 48000)
    kept = vad >= thr
    expected = full.reshape(-1, 480)[kept[: full.size // 480]].reshape(-1)
    np.testing.assert_array_equal(y, expected)
    assert 0 < y.size < x.size


def test_stereo_frame_dropped_only_when_every_channel_is_quiet(model):
    loud = noisy_signal(1.0, 48000)
    x = np.stack([loud, np.zeros_like(loud)], axis=1)
    d = Denoiser(model, compensate_delay=False)
    _, vad = d.denoise(x, 48000)
    thr = float(vad[:, 0].max()) + 1e-3  # channel 0 always below; channel 1 silent (VAD 0)
    y, _ = Denoiser(model, compensate_delay=False, vad_threshold=thr).denoise(x, 48000)
    assert y.shape == (0, 2)
    thr = float(np.median(vad[:, 0]))
    y, _ = Denoiser(model, compensate_delay=False, vad_threshold=thr).denoise(x, 48000)
    assert y.shape[0] == 480 * int((vad[:, 0] >= thr).sum())


@pytest.mark.parametrize(
    "bad",
    [np.array([0.1, np.nan, 0.2]), np.array([np.inf] * 10), np.zeros(0), np.zeros((0, 2))],
)
def test_bad_arrays_raise(model, bad):
    with pytest.raises(AudioError):
        Denoiser(model).denoise(bad, 48000)


def test_bad_threshold_and_missing_model():
    with pytest.raises(InputError):
        Denoiser(_MODEL, vad_threshold=2.0)
    with pytest.raises(InputError, match="no such model file"):
        Denoiser("does-not-exist.rnnn")

