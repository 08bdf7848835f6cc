"""The Denoiser with RNNoise 0.2 models: the shared machinery (delay, attenuation limit, mix,
files, CLI) on the 0.2 frame flow. Rates, dtypes, channels, threads and streaming are tested for
both generations at once in ``test_denoise_api.py`` and ``test_denoise_strength.py``.

Small generated 0.2 models (G = 16) and signals only; exactness against C is in
``test_reference_v02_denoise.py``.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

import numpy as np
import pytest

from helpers import small_model
from rnnoise_kit.cli import main as cli
from rnnoise_kit.denoise import Denoiser, FrameProcessor02
from rnnoise_kit.model import save_model
from rnnoise_kit.model.v02 import RNNoise02Model, model_from_float_layers, random_model
from test_denoise_api import noisy_signal
from test_denoise_strength import band_limited_noise, level_db

DELAY = 960
_MODEL = small_model("0.2")


def muting_model() -> RNNoise02Model:
    """A 0.2 model whose band gains are exactly 0: dense_out has zero weights and bias -30, so
    ``sigmoid_approx`` clamps to 0 (``tanh_approx`` of -15 is -1)."""
    layers = {}
    for name, lay in random_model(4).layers.items():
        w = lay.dense_float()
        if lay.diag is not None:
            n = lay.nb_inputs
            for gate in range(3):
                w[np.arange(n), gate * n + np.arange(n)] += lay.diag[gate * n : (gate + 1) * n]
        layers[name] = (w, np.array(lay.bias, np.float32))
    w, b = layers["dense_out"]
    layers["dense_out"] = (np.zeros_like(w), np.full_like(b, -30.0))
    return model_from_float_layers(layers)


@pytest.fixture(scope="module")
def mute() -> RNNoise02Model:
    return muting_model()


def test_the_model_chooses_the_0_2_flow():
    d = Denoiser(_MODEL)
    assert isinstance(d.processor, FrameProcessor02)
    assert (d.processor.generation, d.processor.delay) == ("0.2", DELAY)


def test_delay_compensation_shifts_by_two_frames():
    x = noisy_signal(0.5, 48000)
    raw, _ = Denoiser(_MODEL, compensate_delay=False).denoise(x, 48000)
    aligned, _ = Denoiser(_MODEL).denoise(x, 48000)
    assert not raw[:480].any()  # the first call synthesises C's zero delayed spectrum
    np.testing.assert_array_equal(aligned[: x.size - DELAY], raw[DELAY:])


# --------------------------------------------------------------------------- limit and mix


@pytest.mark.parametrize("db", [3.0, 12.0, 20.0])
def test_a_model_that_mutes_everything_is_held_at_the_limit(mute, db):
    """0.2: the floor goes on the network's gains before the pitch filter and the decay cap, so
    every band ends at the floor. Tolerance as the v0.1 test (0.5 dB below: the pitch filter's
    combing and overlap-add lose a little energy at low floors; 0.05 dB above)."""
    x = band_limited_noise(1.0)
    y, _ = Denoiser(mute, max_attenuation_db=db).denoise(x, 48000)
    assert -db - 0.5 <= level_db(y, x) <= -db + 0.05
    unlimited, _ = Denoiser(mute).denoise(x, 48000)
    with np.errstate(divide="ignore"):  # gains of exactly 0: the settled output is all zeros
        assert level_db(unlimited, x) < -100


def test_zero_db_passes_the_input_through(mute):
    x = band_limited_noise(1.0)
    y, _ = Denoiser(mute, max_attenuation_db=0.0).denoise(x, 48000)
    assert abs(level_db(y, x)) < 0.05
    assert np.corrcoef(x[4800:], y[4800:])[0, 1] > 0.999


def test_mix_zero_gives_the_input_back_two_frames_late():
    x = np.rint(noisy_signal(0.5, 48000) * 32767).astype(np.int16)
    y, _ = Denoiser(_MODEL, mix=0.0).denoise(x, 48000)
    np.testing.assert_array_equal(y, x)
    y, _ = Denoiser(_MODEL, mix=0.0, compensate_delay=False).denoise(x, 48000)
    np.testing.assert_array_equal(y[:DELAY], 0)
    np.testing.assert_array_equal(y[DELAY:], x[:-DELAY])


@pytest.mark.parametrize("mix", [0.5, -1.0])
def test_mix_blends_denoised_and_input(mix):
    x = noisy_signal(0.5, 48000)
    wet, _ = Denoiser(_MODEL).denoise(x, 48000)
    y, _ = Denoiser(_MODEL, mix=mix).denoise(x, 48000)
    # float32 blend, as for v0.1: a few float32 ulps of the signal
    np.testing.assert_allclose(y, wet * mix + x * (1 - max(mix, 0)), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- files and CLI


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model02") / "r02.bin"
    save_model(_MODEL, path)
    return path


def test_cli_denoise_with_a_blob_equals_the_api(tmp_path, model_file):
    import soundfile as sf

    x = np.rint(noisy_signal(0.6, 16000) * 20000).astype(np.int16)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="PCM_16")
    assert cli(["denoise", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                "--model", str(model_file), "--max-attenuation", "12", "--mix", "0.8"]) == 0
    got, rate = sf.read(tmp_path / "out.wav", dtype="int16")
    want, _ = Denoiser(model_file, max_attenuation_db=12, mix=0.8).denoise(x, 16000)
    assert rate == 16000
    np.testing.assert_array_equal(got, want)


def test_denoise_files_in_worker_processes_equals_the_api(tmp_path):
    """Workers get the Denoiser itself, pickled as its model and options (a 0.2 frame
    processor holds thread-local buffers and does not pickle); no module state is involved."""
    import pickle

    import soundfile as sf

    from rnnoise_kit.denoise import denoise_files

    den = Denoiser(_MODEL, max_attenuation_db=9, mix=0.7)
    again = pickle.loads(pickle.dumps(den))
    assert isinstance(again.processor, FrameProcessor02) and again.model is not den.model
    assert (again.max_attenuation_db, again.mix, again.compensate_delay) == (9.0, 0.7, True)
    x = np.rint(noisy_signal(0.4, 16000) * 20000).astype(np.int16)
    srcs = [tmp_path / f"{n}.wav" for n in "abc"]
    for s in srcs:
        sf.write(s, x, 16000, subtype="PCM_16")
    pairs = [(s, tmp_path / f"out_{s.name}") for s in srcs]
    result = denoise_files(pairs, den, jobs=2)
    assert list(result.outputs) == [str(s) for s in srcs] and result.failures == {}
    want, _ = den.denoise(x, 16000)
    for _, dst in pairs:
        np.testing.assert_array_equal(sf.read(dst, dtype="int16")[0], want)


def test_cli_dump_features_with_a_0_2_model(tmp_path, model_file, capsys):
    import soundfile as sf

    from rnnoise_kit.dsp.v02 import analyse_v02, features_table_v02

    x = np.rint(noisy_signal(0.5, 48000) * 20000).astype(np.int16)
    sf.write(tmp_path / "in.wav", x, 48000, subtype="PCM_16")
    out = tmp_path / "f.npy"
    assert cli(["dump-features", str(tmp_path / "in.wav"), "-o", str(out),
                "--model", str(model_file)]) == 0
    table = np.load(out)
    n = x.size // 480
    assert table.shape == (n, 99)
    want = features_table_v02(analyse_v02(x[: n * 480].astype(np.float32)))
    np.testing.assert_array_equal(table, want)
    assert f"{n} frames x 99" in capsys.readouterr().out


def test_library_runner_refuses_what_is_not_a_librnnoise(tmp_path):
    from rnnoise_kit.errors import InputError, ModelFormatError
    from rnnoise_kit.model.v02.library import LibraryRunner

    with pytest.raises(InputError, match="no such file"):
        LibraryRunner(tmp_path / "missing.so")
    libm = ctypes.util.find_library("m")
    if not sys.platform.startswith("linux") or libm is None:
        pytest.skip("needs a Linux libm to load")
    path = next((p for p in (f"/lib/x86_64-linux-gnu/{libm}", f"/usr/lib/{libm}")
                 if os.path.exists(p)), None)
    if path is None:
        pytest.skip("libm not found on disk")
    with pytest.raises(ModelFormatError, match="not a librnnoise 0.2 build"):
        LibraryRunner(path)
