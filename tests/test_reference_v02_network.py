"""The 0.2 network against C: bit for bit against the plain scalar build, and close to pyrnnoise's
librnnoise (an SSE2 build) on the float and the int8 paths.

Reference: ``../shared/reference/v0.2/frames_{a,gap}_plain.f32`` (HEAD network, pyrnnoise weights,
plain C with no FMA): [0:65] the network inputs (0 when silent), [65:97] the 32 gains, [97] VAD,
[98] silence. Those inputs are the network's exact inputs, so gains and VAD must be identical.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from helpers import snr_db
from rnnoise_kit.model.v02.blob import format_blob, parse_blob
from rnnoise_kit.model.v02.network import Network02

CASES = [("frames_a_plain.f32", 3414, "mix_a.wav", "vad_a_so.f32"),
         ("frames_gap_plain.f32", 2100, "mix_gap.wav", "vad_gap_so.f32")]
INT8_BLOB_SHA256 = "1ad07b428be34c74d9678d05b3c387b73ccf0e6203a1a5f9ce58689b30b303c8"
"""``extract_blob --int8-only`` of the pyrnnoise blob (reference README): 3,544,320 bytes."""


@pytest.fixture(scope="module")
def records(reference):
    return parse_blob((reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin").read_bytes())


@pytest.fixture(scope="module")
def int8_records(records):
    """The blob as the official build's built-in model runs it: conv2, GRUs without float twins."""
    return [r for r in records
            if not (r.name.endswith("_weights_float") and r.name.startswith(("conv2", "gru")))]


@pytest.fixture(scope="module")
def network(records):
    return Network02(records)


@pytest.fixture(scope="module")
def int8_network(int8_records):
    return Network02(int8_records)


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, reference):
    name, n, wav, so_vad = request.param
    rows = np.fromfile(reference / "v0.2" / name, dtype=np.float32).reshape(n, 132)
    so = np.fromfile(reference / "v0.2" / so_vad, dtype=np.float32)
    return rows, reference / "audio" / wav, so


def _inputs(rows):
    return np.ascontiguousarray(rows[:, :65]), rows[:, 98] != 0


def test_model_is_the_main_branch_network(network):
    lay = network.layers
    assert lay.skip_heads and not lay.quantized
    assert (lay.nb_features, lay.conv1_size, lay.gru_size, lay.nb_bands) == (65, 128, 384, 32)


def test_offline_bit_exact(network, case):
    rows, _, _ = case
    gains, vad = network.process(*_inputs(rows))
    assert np.array_equal(gains, rows[:, 65:97])  # max diff 0.0
    assert np.array_equal(vad, rows[:, 97])


def test_streaming_bit_exact(network, case):
    rows, _, _ = case
    x, silence = _inputs(rows)
    state = network.new_state()
    out = [network.process(x[t : t + 1], silence[t : t + 1], state) for t in range(len(x))]
    assert np.array_equal(np.concatenate([g for g, _ in out]), rows[:, 65:97])
    assert np.array_equal(np.concatenate([v for _, v in out]), rows[:, 97])


def test_float_vad_close_to_pyrnnoise_library(network, case):
    """Against the stored VAD of pyrnnoise's .so (SSE2: rcpps in tanh/sigmoid, never exact).

    Issue 15 acceptance: VAD within 0.01. The two C builds are 0.0086 apart at most (README).
    """
    rows, _, so = case
    _, vad = network.process(*_inputs(rows))
    assert np.abs(vad - so).max() <= 0.01


def test_int8_blob_is_the_reference_int8_blob(int8_records):
    blob = format_blob(int8_records)
    assert len(blob) == 3_544_320
    assert hashlib.sha256(blob).hexdigest() == INT8_BLOB_SHA256


def test_int8_network_runs_integer_weights(int8_network):
    # a layer runs its int8 weights when the kernels get its per-output scale
    quantized = {name: scale.size > 0 for name, scale in int8_network.layers.scales.items()}
    grus = [f"gru{i}_{part}" for i in (1, 2, 3) for part in ("input", "recurrent")]
    assert quantized["conv2"] and all(quantized[name] for name in grus)
    assert not (quantized["conv1"] or quantized["dense_out"] or quantized["vad_dense"])


def test_int8_against_float(network, int8_network, reference):
    """README: the int8 path is ~45 dB from the float path in the output audio (44.99 dB, mix_a).

    On the gains themselves (no DSP here) our int8 path measures 39.2 dB on mix_a: close to float,
    yet clearly a different path (bit-identical gains would mean the int8 weights were not used).
    """
    rows = np.fromfile(reference / "v0.2" / "frames_a_plain.f32", dtype=np.float32).reshape(-1, 132)
    x, silence = _inputs(rows)
    g_float, _ = network.process(x, silence)
    g_int8, _ = int8_network.process(x, silence)
    assert 35.0 < snr_db(g_float, g_int8) < 45.0


def _library_vad(library, blob: bytes, wav) -> np.ndarray:
    """``rnnoise_process_frame``'s return value per frame, model loaded from ``blob``."""
    from rnnoise_kit.model.v02.library import LibraryRunner

    audio = sf.read(str(wav), dtype="int16")[0].astype(np.float32)
    return LibraryRunner(library).process(audio[: len(audio) // 480 * 480], blob)[1]


def test_int8_vad_close_to_pyrnnoise_library(int8_network, int8_records, case, pyrnnoise_library):
    """The .so loaded with the int8-only blob runs its int8 path (SSE2, ``USE_SU_BIAS``: uint8
    inputs and ``subias``), so it is close to our scalar int8 path, not equal.

    Measured (mix_a, mix_gap): max |diff| 0.0274 / 0.0209, mean 0.00042 / 0.00036, 12 / 7 frames
    above 0.01. The float
    path's bound (0.01) is too tight here: a tiny SSE2-vs-scalar difference in a GRU state can
    move one input across a rounding boundary of ``floor(.5 + 127 x)``, a step of 1/127 of the
    input range, and the GRUs carry it for a while. Tolerance: max 0.05 (about 2x measured, as
    rcpps differs between CPU makers), mean 0.002 (the frames that move are rare).
    test_reference_v02_denoise's ``test_sse2_emulation_is_the_library`` reproduces the library's
    int8 path bit for bit (SSE2 activations, unsigned inputs, ``subias``): the gap is that
    arithmetic.
    """
    rows, wav, _ = case
    lib_vad = _library_vad(pyrnnoise_library, format_blob(int8_records), wav)
    _, vad = int8_network.process(*_inputs(rows))
    diff = np.abs(vad - lib_vad)
    assert diff.max() <= 0.05
    assert diff.mean() <= 0.002
