"""Parity of the 0.2 DSP with the plain-C reference build (RNNoise HEAD, scalar, no FMA).

``reference/v0.2/frames_{a,gap}_plain.f32`` (n x 132 float32): [0:65] features (0 when silent),
[65:97] the network's gains, [98] silence flag, [99] pitch period, [100:132] Ex. Features, Ex,
pitch and silence must be **bit-exact** on every frame of both files, through the offline
block path and the one-frame streaming path: the implementation follows C's float32/double
rules to the bit (KISS FFT, sequential sums, the 2/3 end folding), so any difference is a bug.

``denoised_gap_plain.raw.gz`` is the same C run's output; driving the 0.2 post-filter (delayed
pitch filter, HEAD's decay cap, gains, synthesis) with the C gains of [65:97] must reproduce it
sample for sample (same int16 conversion as the harness: clip, then truncate).
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from rnnoise_kit.audio.io import read_mono_48k
from rnnoise_kit.dsp.transform import synthesize
from rnnoise_kit.dsp.v02 import (
    AnalysisState02,
    PostFilterState02,
    StreamingAnalyzer02,
    analyse_v02,
    features_table_v02,
    postfilter_v02,
)

ROW = 132
CASES = [
    ("mix_a.wav", "frames_a_plain.f32", 3414, 0),
    ("mix_gap.wav", "frames_gap_plain.f32", 2100, 93),
]


def _offline(x: np.ndarray, n: int) -> np.ndarray:
    # blocks of 1000 frames: also checks that the state carries across blocks
    st = AnalysisState02()
    parts = [
        features_table_v02(analyse_v02(x[480 * a : 480 * min(n, a + 1000)], st))
        for a in range(0, n, 1000)
    ]
    return np.concatenate(parts)


def _streaming(x: np.ndarray, n: int) -> np.ndarray:
    sa = StreamingAnalyzer02()
    rows = []
    for t in range(n):
        r = sa.process(x[480 * t : 480 * t + 480])
        rows.append(np.concatenate([r.features, [r.silence, r.pitch_period], r.Ex]))
    return np.asarray(rows, dtype=np.float32)


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, reference):
    wav, ref, n, n_silent = request.param
    x = read_mono_48k(reference / "audio" / wav)
    assert x.shape[0] // 480 == n
    c = np.fromfile(reference / "v0.2" / ref, dtype=np.float32).reshape(n, ROW)
    return x[: 480 * n], c, n, n_silent


@pytest.fixture(scope="module", params=["offline", "streaming"])
def pair(request, case):
    x, c, n, n_silent = case
    ours = _offline(x, n) if request.param == "offline" else _streaming(x, n)
    return ours, c, n_silent


def test_silence_flag_identical(pair):
    ours, c, n_silent = pair
    assert np.array_equal(ours[:, 65], c[:, 98])
    assert int(c[:, 98].sum()) == n_silent


def test_pitch_period_identical(pair):
    ours, c, _ = pair
    assert np.array_equal(ours[:, 66], c[:, 99])


def test_features_bit_exact(pair):
    ours, c, _ = pair
    assert np.array_equal(ours[:, :65], c[:, :65])


def test_band_energies_bit_exact(pair):
    ours, c, _ = pair
    assert np.array_equal(ours[:, 67:], c[:, 100:132])


def _plain_int16(y: np.ndarray) -> np.ndarray:
    return np.trunc(np.clip(y, -32768, 32767)).astype(np.int16)


def test_postfilter_with_c_gains_reproduces_plain_output(reference):
    n = 2100
    x = read_mono_48k(reference / "audio" / "mix_gap.wav")[: 480 * n]
    c = np.fromfile(reference / "v0.2" / "frames_gap_plain.f32", dtype=np.float32).reshape(n, ROW)
    with gzip.open(reference / "v0.2" / "denoised_gap_plain.raw.gz") as fh:
        ref = np.frombuffer(fh.read(), dtype="<i2")
    assert ref.shape == (480 * n,)
    gains = c[:, 65:97]
    # offline, in blocks that split the file's silent stretch and the rest
    ast, pst, mem, out = AnalysisState02(), PostFilterState02(), None, []
    for a in range(0, n, 700):
        res = analyse_v02(x[480 * a : 480 * min(n, a + 700)], ast)
        y, mem = synthesize(postfilter_v02(res, gains[a : a + len(res)], pst), mem)
        out.append(y)
    offline = _plain_int16(np.concatenate(out))
    assert np.array_equal(offline, ref)
    # the first 960 samples are the two frames of delay (C synthesises zeros there)
    assert not offline[:960].any()
    # frame by frame: the same bits
    sa, pst, mem, out = StreamingAnalyzer02(), PostFilterState02(), None, []
    for t in range(n):
        r = analyse_v02(x[480 * t : 480 * t + 480], sa.state)
        y, mem = synthesize(postfilter_v02(r, gains[t : t + 1], pst), mem)
        out.append(y)
    assert np.array_equal(_plain_int16(np.concatenate(out)), ref)
