"""Attenuation limit and dry/wet mix of the Denoiser: API, streaming, files, CLI, model specs.

Against FFmpeg's own ``arnndn`` output (the reference for ``mix``) see
``test_reference_ffmpeg_denoise.py``; these tests use generated models and signals only.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import GENERATIONS, small_model, stream_in_chunks
from rnnoise_kit.cli import main as cli
from rnnoise_kit.denoise import Denoiser, format_model_options, split_model_spec
from rnnoise_kit.errors import InputError
from rnnoise_kit.model import RNNoiseModel, random_model, save_model
from rnnoise_kit.model.core import LAYER_NAMES
from test_denoise_api import noisy_signal

_MODEL = random_model()


def muting_model() -> RNNoiseModel:
    """A v0.1 model whose band gains are all about 1e-10 once its state has settled.

    The denoise GRU ignores its inputs and settles at tanh(0.49) in every unit; the output
    layer's weights are all -0.5, so its sum is about -22 and the sigmoid is ~0. Without a
    limit it silences everything; with one, every band sits exactly on the floor.
    """
    m = random_model()
    arrays = m.to_float_arrays()
    acts = {name: getattr(m, name).activation for name in LAYER_NAMES}
    gru, n = arrays["denoise_gru"], m.denoise_gru.nb_neurons
    gru["kernel"][:] = 0
    gru["recurrent_kernel"][:] = 0
    gru["bias"][:n] = -0.5  # update gate ~0.38: the state follows the candidate quickly
    gru["bias"][n: 2 * n] = 0
    gru["bias"][2 * n:] = 0.49
    out = arrays["denoise_output"]
    out["kernel"][:] = -0.5
    out["bias"][:] = -0.5
    return RNNoiseModel.from_float_arrays(arrays, acts)


def band_limited_noise(seconds: float, seed: int = 1) -> np.ndarray:
    """White noise from 100 Hz to 16 kHz (inside RNNoise's bands and above its high-pass)."""
    n = int(seconds * 48000)
    rng = np.random.default_rng(seed)
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1 / 48000)
    spec[(f < 100) | (f > 16000)] = 0
    x = np.fft.irfft(spec, n)
    return 0.1 * x / x.std()


def level_db(y: np.ndarray, x: np.ndarray) -> float:
    settled = slice(4800, None)  # the first frames, before the GRU state settles, are louder
    return 10 * np.log10(np.mean(y[settled] ** 2) / np.mean(x[settled] ** 2))


@pytest.fixture(scope="module")
def mute() -> RNNoiseModel:
    return muting_model()


# --------------------------------------------------------------------------- attenuation limit


def test_defaults_are_the_unchanged_path():
    x = noisy_signal(0.5, 48000)
    want, vad = Denoiser(_MODEL).denoise(x, 48000)
    got, got_vad = Denoiser(_MODEL, max_attenuation_db=None, mix=1.0).denoise(x, 48000)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_vad, vad)


@pytest.mark.parametrize("db", [3.0, 6.0, 12.0, 20.0])
def test_a_model_that_mutes_everything_is_held_at_the_limit(mute, db):
    """Every band's gain sits on the floor, so the output level is -DB.

    Tolerance: 0.5 dB below (measured 0.01 dB at 3 dB to 0.26 dB at 20 dB): the lower the
    floor, the harder the pitch filter combs each band, which keeps the band's energy but
    not its waveform, and overlap-adding frames that no longer match loses a little energy.
    Never louder than -DB by more than 0.05 dB.
    """
    x = band_limited_noise(1.0)
    y, _ = Denoiser(mute, max_attenuation_db=db).denoise(x, 48000)
    assert -db - 0.5 <= level_db(y, x) <= -db + 0.05
    unlimited, _ = Denoiser(mute).denoise(x, 48000)
    assert level_db(unlimited, x) < -100


def test_zero_db_passes_the_input_through(mute):
    """0 dB: every gain is 1, so the pitch filter does nothing either; what is left is the
    high-pass filter and the cut above 20 kHz, neither of which touches this noise much."""
    x = band_limited_noise(1.0)
    y, _ = Denoiser(mute, max_attenuation_db=0.0).denoise(x, 48000)
    assert abs(level_db(y, x)) < 0.05
    assert np.corrcoef(x[4800:], y[4800:])[0, 1] > 0.999


def test_the_limit_only_ever_raises_gains():
    """On an ordinary model: a looser limit never gives a louder output (the floor rises)."""
    x = noisy_signal(1.0, 48000)
    levels = [level_db(Denoiser(_MODEL, max_attenuation_db=db).denoise(x, 48000)[0], x)
              for db in (None, 30.0, 10.0, 3.0)]
    assert levels == sorted(levels)


# --------------------------------------------------------------------------- mix


def test_mix_zero_gives_the_input_back_exactly():
    x = np.rint(noisy_signal(0.5, 48000) * 32767).astype(np.int16)
    y, _ = Denoiser(_MODEL, mix=0.0).denoise(x, 48000)
    np.testing.assert_array_equal(y, x)
    # without delay compensation, the input one frame (480 samples) late, as FFmpeg does
    y, _ = Denoiser(_MODEL, mix=0.0, compensate_delay=False).denoise(x, 48000)
    np.testing.assert_array_equal(y[:480], 0)
    np.testing.assert_array_equal(y[480:], x[:-480])


@pytest.mark.parametrize("mix", [0.5, -0.5, -1.0])
def test_mix_blends_denoised_and_input(mix):
    x = noisy_signal(0.5, 48000)
    wet, _ = Denoiser(_MODEL).denoise(x, 48000)
    y, _ = Denoiser(_MODEL, mix=mix).denoise(x, 48000)
    # the blend is computed in float32 (as FFmpeg does): a few float32 ulps of the signal
    np.testing.assert_allclose(y, wet * mix + x * (1 - max(mix, 0)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_mix_at_other_rates_is_done_at_48k(rate):
    """Resampled to 48 kHz and back: mix 0 returns the input through the two resamplers."""
    x = noisy_signal(0.5, rate)
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1 / rate) > 0.4 * rate] = 0  # inside soxr's passband
    x = np.fft.irfft(spec, x.size)
    y, _ = Denoiser(_MODEL, mix=0.0).denoise(x, rate)
    # soxr HQ there and back, aligned: well under 1e-3 of full scale inside the passband,
    # except in the first and last 10 ms, where the filters start and end on silence
    edge = rate // 100
    assert y.shape == x.shape
    np.testing.assert_allclose(y[edge:-edge], x[edge:-edge], atol=1e-3)


@pytest.mark.parametrize("generation", GENERATIONS)
@settings(max_examples=10, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 2000), min_size=1, max_size=10),
    rate=st.sampled_from([16000, 48000]),
    compensate=st.booleans(),
    db=st.sampled_from([None, 6.0]),
    mix=st.sampled_from([1.0, 0.5, -0.7]),
)
def test_stream_equals_offline_with_options(generation, sizes, rate, compensate, db, mix):
    x = noisy_signal(sum(sizes) / rate, rate)[: sum(sizes)].astype(np.float32)
    d = Denoiser(small_model(generation), compensate_delay=compensate, max_attenuation_db=db,
                 mix=mix)
    want, vad = d.denoise(x, rate)
    got, stream = stream_in_chunks(d, x, rate, sizes)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stream.vad[:, 0], vad)


def test_stereo_mixes_each_channel_with_its_own_input():
    x = noisy_signal(0.5, 48000, channels=2)
    y, _ = Denoiser(_MODEL, mix=0.0).denoise(x.astype(np.float32), 48000)
    np.testing.assert_allclose(y, x, atol=1e-7)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_attenuation_db": -3.0}, "attenuation"),
    ({"max_attenuation_db": float("inf")}, "attenuation"),
    ({"max_attenuation_db": float("nan")}, "attenuation"),
    ({"mix": 1.5}, "mix"),
    ({"mix": -2.0}, "mix"),
    ({"mix": float("nan")}, "mix"),
])
def test_bad_values_are_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        Denoiser(_MODEL, **kwargs)


# --------------------------------------------------------------------------- files, CLI


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "random.rnnn"
    save_model(_MODEL, path)
    return path


@pytest.mark.parametrize("jobs", [1, 2])
def test_cli_options_equal_the_api(tmp_path, model_file, jobs):
    pcm = np.rint(noisy_signal(0.5, 48000) * 32767).astype(np.int16)
    srcs = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for s in srcs:
        sf.write(s, pcm, 48000, subtype="PCM_16")
    out = tmp_path / "out"
    args = ["denoise", *map(str, srcs), "--out-dir", str(out), "--model", str(model_file),
            "--max-attenuation", "9", "--mix", "0.6", "-j", str(jobs)]
    assert cli(args) == 0
    want, _ = Denoiser(_MODEL, max_attenuation_db=9.0, mix=0.6).denoise(pcm, 48000)
    plain, _ = Denoiser(_MODEL).denoise(pcm, 48000)
    assert not np.array_equal(want, plain)
    for s in srcs:
        got, _ = sf.read(out / s.name, dtype="int16")
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [["--mix", "1.5"], ["--max-attenuation", "-1"],
                                 ["--max-attenuation", "nan"]])
def test_cli_bad_values_exit_2_with_one_line(tmp_path, model_file, capsys, bad):
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, noisy_signal(0.2, 48000), 48000)
    assert cli(["denoise", str(src), "-o", str(out), "--model", str(model_file), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnoise-kit: ")
    assert not out.exists()


# --------------------------------------------------------------------------- model specs


@pytest.mark.parametrize(("spec", "model", "options"), [
    ("std", "std", {}),
    ("std@12", "std", {"max_attenuation_db": 12.0}),
    ("std@12dB", "std", {"max_attenuation_db": 12.0}),
    ("std@mix=-0.5", "std", {"mix": -0.5}),
    ("run/model.rnnn@6,mix=0.5", "run/model.rnnn", {"max_attenuation_db": 6.0, "mix": 0.5}),
    ("dir@x/model.rnnn", "dir@x/model.rnnn", {}),  # '@' inside a path
    ("a@b.rnnn", "a@b.rnnn", {}),
    ("odd@12@", "odd@12", {}),  # a file named odd@12: the trailing '@' takes no options
    ("odd@12@6", "odd@12", {"max_attenuation_db": 6.0}),
    ("std@12,12", "std@12,12", {}),  # not an option list: a model name, which will not exist
    ("@12", "@12", {}),
    ("std@-3", "std", {"max_attenuation_db": -3.0}),  # parsed; the Denoiser rejects it
])
def test_split_model_spec(spec, model, options):
    assert split_model_spec(spec) == (model, options)
    if options:
        assert split_model_spec(f"{model}@{format_model_options(options)}") == (model, options)


def test_spec_options_reach_the_compare_denoiser():
    from rnnoise_kit.evaluation.compare import default_factory

    d = default_factory("bundled@12,mix=0.25")
    assert (d.max_attenuation_db, d.mix, d.compensate_delay) == (12.0, 0.25, True)
    with pytest.raises(InputError, match="-5"):
        default_factory("bundled@-5")
