"""The 0.2 Denoiser end to end against C: the plain scalar build and pyrnnoise's librnnoise.

Reference: ``../shared/reference/v0.2`` (README there). ``denoised_gap_plain.raw.gz`` is the plain
C harness's output on mix_gap (every frame kept, 960 samples of delay, float clipped then
*truncated* to int16); ``frames_{a,gap}_plain.f32`` [97] its VAD. pyrnnoise's .so (SSE2, whose
``rcpps`` reciprocals are approximate and differ between CPU makers, so never bit-exact with a
scalar build) = plain + ``denoised_gap_so_minus_plain.i16.gz`` on mix_gap; on mix_a it is run here
through ctypes (:class:`rnnoise_kit.model.v02.library.LibraryRunner`), which reproduces the stored
.so output on mix_gap exactly.

Tolerances (issue 15): against plain C at least 60 dB (we reach bit equality after the same
truncation, so the only residual of the rounded int16 output is rounding vs truncation); against
the .so the README's C-vs-C SNR minus 1 dB (mix_a 63.33 -> 62.33, mix_gap 71.50 -> 70.50) and VAD
within 0.01 (the C builds are 0.0086 apart).
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import soundfile as sf

from helpers import snr_db
from rnnoise_kit.audio.io import resample
from rnnoise_kit.denoise import Denoiser
from rnnoise_kit.model.v02 import format_blob, model_from_float_layers, read_blob

FRAME = 480
ROW = 132
SO_SNR_FLOOR = {"mix_a": 63.33 - 1.0, "mix_gap": 71.50 - 1.0}
"""README: plain C vs the .so (int16 outputs), minus the issue's 1 dB margin."""
VAD_TOLERANCE = 0.01
WRAPPER_FLOORS = {1: (72.14, 0.01), 2: (41.47, 0.02), 3: (68.88, 0.01), 4: (53.26, 0.03),
                  5: (71.67, 0.01)}
"""Per wrapper recording: (SNR floor dB, VAD tolerance), the issue's rule (the two C builds' SNR
minus 1 dB) applied per file. The README measures the C builds only on the shared audio; on
these files the figure is ours vs the .so, which *is* plain C vs SSE2 C: ours equals the plain
build bit for bit (tests above), and :func:`test_sse2_emulation_is_the_library` shows that our
network with only the SSE2 build's activations swapped in reproduces the .so bit for bit on
every file, so no other difference (and no bug of ours) is in the gap. Measured (int16, 48 kHz):
73.14, 42.47, 69.88, 54.26, 72.67 dB; VAD max |diff| 0.0052, 0.0105, 0.0013, 0.0177, 0.0019.
Files 2 and 4 sit below the shared audio's figures because their GRUs amplify the activations'
differences (at most 3.1e-4 for tanh, 1.6e-4 for sigmoid, present from the first frame): about
70 % of file 2's error lies in frames 359-364, 87 % of file 4's in 1145-1147, at speech onsets;
there the two C builds' VAD differ by more than the issue's 0.01, hence 0.02/0.03 (the others
keep 0.01)."""


@pytest.fixture(scope="module")
def blob_path(reference):
    return reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"


@pytest.fixture(scope="module")
def denoiser(blob_path):
    """Every frame kept (no delay compensation): what the C harness writes."""
    return Denoiser(blob_path, compensate_delay=False)


def _read_frames(path) -> np.ndarray:
    x, rate = sf.read(path, dtype="int16")
    assert rate == 48000
    return x[: (x.shape[0] // FRAME) * FRAME]


def _ours_float(denoiser: Denoiser, x16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our float output in int16 scale (exact: the float path scales by powers of two) and VAD."""
    s = denoiser.stream(48000)
    out = s.process(x16.astype(np.float32) / np.float32(32768)).astype(np.float64) * 32768
    return out, s.vad[:, 0]


def _truncate(y: np.ndarray) -> np.ndarray:
    """The harness's int16 conversion: clip, then truncate toward zero."""
    return np.trunc(np.clip(y, -32768, 32767)).astype(np.int16)


@pytest.fixture(scope="module")
def gap(reference, denoiser):
    x16 = _read_frames(reference / "audio" / "mix_gap.wav")
    with gzip.open(reference / "v0.2" / "denoised_gap_plain.raw.gz") as fh:
        plain = np.frombuffer(fh.read(), dtype="<i2")
    with gzip.open(reference / "v0.2" / "denoised_gap_so_minus_plain.i16.gz") as fh:
        delta = np.frombuffer(fh.read(), dtype="<i2")
    so = (plain.astype(np.int32) + delta).astype(np.int16)
    rows = np.fromfile(reference / "v0.2" / "frames_gap_plain.f32", np.float32).reshape(-1, ROW)
    so_vad = np.fromfile(reference / "v0.2" / "vad_gap_so.f32", np.float32)
    ours, vad = _ours_float(denoiser, x16)
    assert plain.shape == x16.shape == ours.shape
    return x16, ours, vad, plain, so, rows, so_vad


# ----------------------------------------------------------------------------- plain C


def test_gap_equals_plain_c_after_the_same_truncation(gap):
    _, ours, _, plain, _, _, _ = gap
    assert np.array_equal(_truncate(ours), plain)
    assert not plain[:FRAME].any()  # every frame kept: the first is C's zero delayed spectrum


def test_gap_int16_output_within_rounding_of_plain_c(gap, denoiser):
    """The int16 API rounds where the harness truncates: within 1 LSB, far above 60 dB."""
    x16, _, _, plain, _, _, _ = gap
    out16, _ = denoiser.denoise(x16, 48000)
    assert out16.dtype == np.int16
    diff = np.abs(out16.astype(np.int32) - plain)
    assert diff.max() <= 1
    assert snr_db(plain, out16) >= 60.0


@pytest.mark.parametrize("name", ["a", "gap"])
def test_vad_equals_plain_c(reference, denoiser, name):
    x16 = _read_frames(reference / "audio" / f"mix_{name}.wav")
    rows = np.fromfile(reference / "v0.2" / f"frames_{name}_plain.f32", np.float32)
    rows = rows.reshape(-1, ROW)
    _, vad = denoiser.denoise(x16, 48000)
    assert vad.shape == (rows.shape[0],)
    assert np.array_equal(vad, rows[:, 97])


def test_streaming_10ms_equals_offline(gap, denoiser):
    x16, ours, vad, _, _, _, _ = gap
    s = denoiser.stream(48000)
    xf = x16[: 400 * FRAME].astype(np.float32) / np.float32(32768)
    parts = [s.process(xf[i : i + FRAME]) for i in range(0, xf.shape[0], FRAME)]
    out = np.concatenate(parts).astype(np.float64) * 32768
    assert np.array_equal(out, ours[: out.shape[0]])
    assert np.array_equal(s.vad[:, 0], vad[:400])


def test_delay_compensation_removes_two_frames(gap, blob_path):
    x16, ours, _, _, _, _, _ = gap
    x = x16[: 300 * FRAME]
    out, _ = Denoiser(blob_path).denoise(x.astype(np.float32) / np.float32(32768), 48000)
    assert out.shape == x.shape
    kept = out[: -2 * FRAME].astype(np.float64) * 32768
    assert np.array_equal(kept, ours[2 * FRAME : 300 * FRAME])


# ----------------------------------------------------------------------------- the .so


def test_gap_close_to_pyrnnoise_library(gap):
    _, ours, vad, _, so, _, so_vad = gap
    snr = snr_db(so, _truncate(ours))
    assert snr >= SO_SNR_FLOOR["mix_gap"], snr
    assert np.abs(vad - so_vad).max() <= VAD_TOLERANCE


@pytest.fixture(scope="module")
def runner(pyrnnoise_library):
    from rnnoise_kit.model.v02.library import LibraryRunner

    return LibraryRunner(pyrnnoise_library)


def test_runner_reproduces_the_stored_library_output(runner, gap):
    """The ctypes runner is the .so: its mix_gap output equals the stored one exactly."""
    x16, _, _, _, so, _, so_vad = gap
    out, vad = runner.process(x16.astype(np.float32))
    assert np.array_equal(_truncate(out), so)
    assert np.array_equal(vad, so_vad)


def test_mix_a_close_to_pyrnnoise_library(reference, runner, denoiser):
    x16 = _read_frames(reference / "audio" / "mix_a.wav")
    so, so_vad = runner.process(x16.astype(np.float32))
    assert np.array_equal(so_vad, np.fromfile(reference / "v0.2" / "vad_a_so.f32", np.float32))
    ours, vad = _ours_float(denoiser, x16)
    snr = snr_db(_truncate(so), _truncate(ours))
    assert snr >= SO_SNR_FLOOR["mix_a"], snr
    assert np.abs(vad - so_vad).max() <= VAD_TOLERANCE


def _wrapper_48k(path) -> np.ndarray:
    """A wrapper recording (8 kHz) as the 48 kHz int16 frames both sides run: soxr, rounded,
    zero-padded to whole frames."""
    x, rate = sf.read(path, dtype="float64")
    assert rate == 8000
    up = np.rint(np.clip(resample(x, rate, 48000) * 32768, -32768, 32767)).astype(np.int16)
    return np.concatenate([up, np.zeros((-up.shape[0]) % FRAME, np.int16)])


@pytest.mark.parametrize("i", sorted(WRAPPER_FLOORS))
def test_wrapper_recordings_close_to_pyrnnoise_library(reference, runner, denoiser, i):
    """Real 8 kHz telephone recordings, the 48 kHz path identical on both sides (soxr up, a
    fresh state per file); floors in :data:`WRAPPER_FLOORS`."""
    x16 = _wrapper_48k(reference / "wrapper" / f"test_{i}.wav")
    so, so_vad = runner.process(x16.astype(np.float32))
    ours, vad = _ours_float(denoiser, x16)
    floor, vad_tol = WRAPPER_FLOORS[i]
    snr = snr_db(_truncate(so), _truncate(ours))
    assert snr >= floor, snr
    assert np.abs(vad - so_vad).max() <= vad_tol


@pytest.fixture(scope="module")
def written_blob(written_model, tmp_path_factory) -> bytes:
    from rnnoise_kit.model import save_model

    path = tmp_path_factory.mktemp("written") / "written.bin"
    save_model(written_model, path)
    return path.read_bytes()


def _library_input(reference, name: str) -> np.ndarray:
    """int16 frames of a shared audio file (``mix_*``) or a wrapper recording (``test_N``)."""
    if name.startswith("mix_"):
        return _read_frames(reference / "audio" / f"{name}.wav")
    return _wrapper_48k(reference / "wrapper" / f"{name}.wav")


@pytest.mark.parametrize("precision", ["float", "int8"])
@pytest.mark.parametrize(
    "name", ["mix_a", "mix_gap", *(f"test_{i}" for i in sorted(WRAPPER_FLOORS)), "written"])
def test_sse2_emulation_is_the_library(reference, runner, blob_path, written_blob, name,
                                       precision):
    """Why ours is not closer to the .so: its SSE2 arithmetic, nothing else. Our network with only
    ``vec_avx.h``'s SSE2 activations (``rcpps`` from this CPU) and, for int8 layers, its unsigned
    quantisation and ``subias`` swapped in (``tests/sse2_emulation.py``; DSP and matrix products
    unchanged) gives the library's float output and VAD bit for bit: float and int8-only blobs,
    the shared audio, the wrapper recordings (including files 2 and 4), and a blob rnnoise-kit
    wrote (``written``: the first 2000 frames of mix_gap)."""
    from rnnoise_kit.model.v02 import RNNoise02Model, parse_blob
    from sse2_emulation import Sse2FrameProcessor02

    blob = written_blob if name == "written" else blob_path.read_bytes()
    model = RNNoise02Model.from_records(parse_blob(blob))
    if precision == "int8":
        model = model.without_float()
        blob = format_blob(list(model.records))
    x16 = _library_input(reference, "mix_gap" if name == "written" else name)
    if name == "written":
        x16 = x16[: 2000 * FRAME]
    so, so_vad = runner.process(x16.astype(np.float32), blob)
    emulated, vad = Sse2FrameProcessor02(model).denoise(x16)
    assert np.array_equal(emulated, so)
    assert np.array_equal(vad, so_vad)


def test_sse2_activations_within_upstream_bounds():
    """The emulated activations are the documented approximations: within 3.2e-4 (tanh) and
    1.6e-4 (sigmoid) of the scalar build's (upstream: "max error around 3e-4 / 1.5e-4, dominated
    by the reciprocal approximation"), and different from them (rcpps is approximate)."""
    import numba

    from rnnoise_kit.model.v02 import _kernels
    from sse2_emulation import sigmoid_sse2, tanh_sse2

    @numba.njit
    def differences(xs, out):
        for i in range(xs.size):
            out[0, i] = tanh_sse2(xs[i]) - _kernels.tanh_approx(xs[i])
            out[1, i] = sigmoid_sse2(xs[i]) - _kernels.sigmoid_approx(xs[i])

    xs = np.linspace(-12, 12, 200_001).astype(np.float32)
    diff = np.zeros((2, xs.size), np.float32)
    differences(xs, diff)
    worst = np.abs(diff).max(axis=1)
    assert worst[0] <= 3.2e-4 and worst[1] <= 1.6e-4, worst
    assert (diff != 0).mean(axis=1).min() > 0.1


# ----------------------------------------------------------------------------- written blobs


def _float_layers(model, recurrent_factor: float) -> dict:
    """The model's float weights (recurrent diagonals folded back in), GRU recurrent scaled."""
    layers = {}
    for name, (w, bias) in model.float_layers().items():
        if name.endswith("_recurrent"):
            w = (w * np.float32(recurrent_factor)).astype(np.float32)
        layers[name] = (w, bias)
    return layers


@pytest.fixture(scope="module")
def written_model(blob_path):
    """A model rnnoise-kit exports itself (quantisation, scales, subias, sparse index, blob):
    the pyrnnoise network with its recurrent weights scaled by 0.9, so it is not a copy."""
    return model_from_float_layers(_float_layers(read_blob(blob_path), 0.9))


@pytest.mark.parametrize("precision", ["float", "int8"])
def test_written_blob_runs_the_same_in_the_library(reference, runner, written_model, tmp_path,
                                                   precision):
    """The blob loads through ``rnnoise_model_from_buffer`` + ``rnnoise_create(model)`` (so
    ``init_rnnoise`` accepts every array) and the library computes what we compute, as close
    as two C builds are. Measured on the first 20 s of mix_gap: float 69.32 dB, VAD max 0.0021
    (this model has no C-vs-C figure of its own: the floor is the shared audio's lower one,
    mix_a's 62.33 dB, VAD 0.01). int8-only blob: the .so runs its SSE2 int8 path (uint8 inputs
    + ``subias``), ours the scalar one (int8 inputs + bias): the integer sums are exact on both
    sides, but a tiny float difference before ``floor(.5 + 127x)`` moves a GRU input by one
    step now and then. Measured 63.74 dB, VAD max 0.0177 (mean 0.0004); floor 55 dB, VAD 0.05
    as in test_reference_v02_network's int8 test (rounding flips cost several dB in a loud
    passage). That these gaps are the SSE2 arithmetic alone, for both blobs, is shown exactly by
    :func:`test_sse2_emulation_is_the_library` (``written``)."""
    from rnnoise_kit.model import save_model

    model = written_model if precision == "float" else written_model.without_float()
    path = tmp_path / f"written-{precision}.bin"
    save_model(model, path)
    x16 = _read_frames(reference / "audio" / "mix_gap.wav")[: 2000 * FRAME]
    so, so_vad = runner.process(x16.astype(np.float32), path.read_bytes())
    ours, vad = _ours_float(Denoiser(path, compensate_delay=False), x16)
    # not the reference network: the outputs differ from the built-in model's
    builtin, _ = runner.process(x16.astype(np.float32))
    assert snr_db(builtin, so) < 40.0
    snr = snr_db(_truncate(so), _truncate(ours))
    floor, vad_tol = (SO_SNR_FLOOR["mix_a"], VAD_TOLERANCE) if precision == "float" else (
        55.0, 0.05)
    assert snr >= floor, snr
    assert np.abs(vad - so_vad).max() <= vad_tol
