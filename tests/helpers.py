"""Small helpers shared by test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GENERATIONS = ("0.1", "0.2")
"""The RNNoise generations, for tests parametrised over both."""


@functools.cache
def small_model(generation: str):
    """A small generated model: v0.1's ``random_model()``, 0.2's ``random_model(3)`` (G = 16)."""
    if generation == "0.2":
        from rnnoise_kit.model.v02 import random_model

        return random_model(3)
    from rnnoise_kit.model import random_model

    return random_model()


def stream_in_chunks(denoiser, x: np.ndarray, rate: int, sizes) -> tuple[np.ndarray, object]:
    """``x`` through ``denoiser.stream(rate)`` in chunks of ``sizes``, flushed: the output
    and the stream (for its ``vad``)."""
    stream = denoiser.stream(rate)
    parts, i = [], 0
    for n in sizes:
        parts.append(stream.process(x[i : i + n]))
        i += n
    parts.append(stream.flush())
    return np.concatenate(parts), stream


def snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """SNR of ``out`` against ``ref`` in dB (the error is ``out - ref``)."""
    ref = np.asarray(ref, dtype=np.float64)
    err = np.asarray(out, dtype=np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-12)))


# ----------------------------------------------------------------------------- DSP analysis


def voiced_audio(
    n_frames: int,
    seed: int = 0,
    silent_frames=(),
    *,
    f0: tuple[float, float, float] = (120, 40, 0.7),
    gate: tuple[float, float] = (3, -0.3),
    levels: tuple[float, float] = (6000, 1500),
) -> np.ndarray:
    """A gated square-wave "voice" with a gliding pitch plus white noise, in int16 scale
    (float32, rounded), 480 samples a frame; the frames in ``silent_frames`` are digital zero.

    ``f0`` = (centre Hz, swing Hz, glide rate Hz), ``gate`` = (rate Hz, threshold of the gating
    sine), ``levels`` = (voice amplitude, noise standard deviation)."""
    rng = np.random.default_rng(seed)
    t = np.arange(480 * n_frames)
    pitch = f0[0] + f0[1] * np.sin(2 * np.pi * t / 48000 * f0[2])
    voiced = (
        levels[0]
        * np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / 48000))
        * (np.sin(2 * np.pi * t / 48000 * gate[0]) > gate[1])
    )
    x = voiced + levels[1] * rng.standard_normal(t.size)
    for f in silent_frames:
        x[480 * f : 480 * f + 480] = 0
    return np.round(x).astype(np.float32)


def _field_names(obj) -> list[str]:
    return [f.name for f in dataclasses.fields(obj)]


def assert_same_analysis(a, b) -> None:
    """Two frame analyses (either generation) equal field by field, bit for bit."""
    for name in _field_names(a):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def concat_analysis(parts):
    """Consecutive blocks' frame analyses as one (the class of the first)."""
    return type(parts[0])(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _field_names(parts[0]))
    )


def assert_states_equal(s1, s2) -> None:
    """Two analysis states (either generation) equal in every field."""
    for name in _field_names(s1):
        assert np.array_equal(getattr(s1, name), getattr(s2, name)), name


def blocks_and_streaming_cases(max_examples: int):
    """The hypothesis cases of a generation's offline / blocks / streaming agreement test:
    ``seed``, ``n`` frames, block ``cuts``, input ``gain`` and ``highpass``."""

    def wrap(test):
        cases = given(
            seed=st.integers(0, 2**16),
            n=st.integers(1, 40),
            cuts=st.lists(st.integers(0, 40), max_size=4),
            gain=st.sampled_from([1.0, 1e-3, 0.0, 3.0]),
            highpass=st.booleans(),
        )
        return settings(
            max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )(cases(test))

    return wrap


def check_blocks_and_streaming(analyse, state_type, streaming_type, x, cuts, highpass) -> None:
    """``analyse`` on the whole of ``x``, on consecutive blocks cut at ``cuts`` with one carried
    state, and ``streaming_type`` frame by frame: the same results in every field and the same
    final state, bit for bit."""
    n = x.shape[0] // 480
    whole_state = state_type()
    whole = analyse(x, whole_state, highpass=highpass)
    bounds = sorted({0, n, *[c for c in cuts if c <= n]})
    block_state = state_type()
    blocks = concat_analysis([
        analyse(x[480 * a : 480 * b], block_state, highpass=highpass)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ])  # fmt: skip
    assert_same_analysis(whole, blocks)
    assert_states_equal(whole_state, block_state)
    streaming = streaming_type(highpass=highpass)
    for t in range(n):
        frame = streaming.process(x[480 * t : 480 * t + 480])
        for name in _field_names(frame):
            assert np.array_equal(getattr(frame, name), getattr(whole, name)[t]), (t, name)
    assert_states_equal(streaming.state, whole_state)


# ----------------------------------------------------------------------------- model file fuzzing

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
"""Settings of the model readers' fuzz tests."""
FUZZ_EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4)
"""Byte edits for :func:`mutate`: up to four (position, value) pairs."""


def mutate(data: bytes, cut: int, edits: list[tuple[int, int]]) -> bytes:
    """``data`` cut to ``cut % (len + 1)`` bytes, then byte ``pos % len`` set to ``val`` for each
    (pos, val) edit."""
    b = bytearray(data[: cut % (len(data) + 1)])
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    return bytes(b)


def check_parses_or_says_why(parse, data: bytes, path: str) -> None:
    """``parse(data, path)`` either succeeds or raises a one-line ModelFormatError that starts
    with the path (any other exception fails the test)."""
    from rnnoise_kit.errors import ModelFormatError

    try:
        parse(data, path)
    except ModelFormatError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert "\n" not in str(exc)


def check_training_variant(analyse, x: np.ndarray, lowpass: np.ndarray):
    """``analyse`` of the TRAINING build against inference on the same frames (no high-pass):
    bins >= ``lowpass`` of X zeroed, X of unfiltered frames (481) unchanged, P untouched,
    silence ``E < 0.1`` in double, and silent frames keep their features (no early return).
    Returns the (training, inference) analyses."""
    r = analyse(x, highpass=False, training=True, lowpass=lowpass)
    inf = analyse(x, highpass=False)
    cut = lowpass < 481
    assert not any(r.X[t, lowpass[t] :].any() for t in np.flatnonzero(cut))
    assert any(r.X[t, : lowpass[t]].any() for t in np.flatnonzero(cut))
    assert np.array_equal(r.X[~cut], inf.X[~cut]) and np.array_equal(r.P, inf.P)
    assert np.array_equal(r.silence, r.energy.astype(np.float64) < 0.1)
    assert r.silence.any()
    assert np.any(r.features[r.silence] != 0)
    return r, inf


def training_speech(seconds: float = 4.0, seed: int = 1) -> np.ndarray:
    """Voiced bursts with pauses, int16 (the training-matrix generator's tests)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 48000)
    t = np.arange(n) / 48000
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 48000
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = (np.sin(2 * np.pi * 1.3 * t) > -0.2) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    x = 6000 * x * env + 30 * rng.standard_normal(n)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def training_noise(seconds: float = 5.0, seed: int = 2) -> np.ndarray:
    """Pink-ish noise, int16 (the training-matrix generator's tests)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(int(seconds * 48000))
    pink = np.cumsum(w) * 0.02
    pink -= np.convolve(pink, np.ones(400) / 400, mode="same")
    return np.clip(np.rint(2000 * (w + 5 * pink)), -32768, 32767).astype(np.int16)
