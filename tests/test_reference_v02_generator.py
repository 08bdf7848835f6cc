"""``features --arch 0.2 --compat`` against HEAD ``dump_features`` (``reference/v0.2``).

Acceptance: byte-identical output for the 2-sequence seed-16 vector and the three 1-sequence
vectors (seeds 3, 21, 42), from the README's inputs (speech/noise: ``reference/audio/*.wav``,
whose payload is ``speech_a.raw``/``noise_a.raw``; ``train_inputs/fg_noise.raw.gz`` unzipped;
``-rir_list train_inputs/rir_list.txt``). No tolerance: the generator runs C's float32/double
arithmetic, glibc ``rand()`` and C's KISS FFT, so any difference is a bug. The draws are also
checked against the reference's own predictor ``tools/df_draws.py`` over more seeds, so a
wrong branch shows even where the four vectors do not reach it.
"""

from __future__ import annotations

import gzip
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from rnnoise_kit.cli import main
from rnnoise_kit.training.glibc_rand import GlibcRand
from rnnoise_kit.training.v02.generator import (
    SEQUENCE_SAMPLES,
    RirBank,
    draw_sequence,
    generate_v02,
    lcg_positions,
)
from rnnoise_kit.training.v02.layout import ROW, SEQUENCE

VECTORS = {16: "train_head_seed16_2seq_rir", 3: "train_head_seed3_1seq_rir",
           21: "train_head_seed21_1seq_rir", 42: "train_head_seed42_1seq_rir"}


@pytest.fixture(scope="module")
def inputs(reference, tmp_path_factory):
    folder = tmp_path_factory.mktemp("v02_inputs")
    fg = folder / "fg_noise.raw"
    fg.write_bytes(gzip.decompress((reference / "v0.2" / "train_inputs" /
                                    "fg_noise.raw.gz").read_bytes()))
    return {"speech": reference / "audio" / "speech_a.wav",
            "noise": reference / "audio" / "noise_a.wav",
            "fg": fg,
            "rir": reference / "v0.2" / "train_inputs" / "rir_list.txt"}


def _reference_rows(reference, seed: int) -> bytes:
    return gzip.decompress((reference / "v0.2" / f"{VECTORS[seed]}.f32.gz").read_bytes())


@pytest.mark.parametrize("seed", [16, 3, 21, 42])
def test_compat_is_byte_identical(reference, inputs, tmp_path, seed):
    ref = _reference_rows(reference, seed)
    out = tmp_path / "train.f32"
    res = generate_v02(inputs["speech"], inputs["noise"], len(ref) // (ROW * 4), out,
                       foreground_noise=inputs["fg"], rir=inputs["rir"], compat=True,
                       seed=seed, progress=False)
    ours = out.read_bytes()
    if ours != ref:
        a = np.frombuffer(ours, "<f4").reshape(-1, ROW)
        b = np.frombuffer(ref, "<f4").reshape(-1, ROW)
        rows = np.flatnonzero(~np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=1))
        pytest.fail(f"seed {seed}: {rows.size} rows differ, first {rows[:5]}")
    assert res.attrs["arch"] == "0.2" and res.attrs["mode"] == "compat"


def test_compat_cli_seed3(reference, inputs, tmp_path):
    out = tmp_path / "train.f32"
    rc = main(["features", "--arch", "0.2", "--compat", "--seed", "3",
               "--speech", str(inputs["speech"]), "--noise", str(inputs["noise"]),
               "--foreground-noise", str(inputs["fg"]), "--rir", str(inputs["rir"]),
               "--frames", str(SEQUENCE), "-o", str(out)])
    assert rc == 0
    assert out.read_bytes() == _reference_rows(reference, 3)


_LINE = re.compile(
    r"seq (\d+): pos\(bytes\) speech (\d+) noise (\d+) fg (\d+); start_pos (\d+); "
    r"speech (-?[\d.]+) dB; noise (\S+)(?: dB)?; fg (\S+)(?: dB)?; x0.03 (\w+); "
    r"filters noise\[(.*?) \| (.*?)\] fg\[(.*?) \| (.*?)\] speech\[(.*?) \| (.*?)\]; "
    r"lowpass (\d+) bins, band_lp (\d+); rir (\w+); clip (\w+); quant (\w+)")


def _predicted(reference, seed: int, count: int, nrir: int) -> tuple[list, int]:
    tool = reference / "v0.2" / "tools" / "df_draws.py"
    text = subprocess.run([sys.executable, str(tool), str(seed), str(count), "--rir",
                           str(nrir)], check=True, capture_output=True, text=True).stdout
    lines = [m.groups() for m in map(_LINE.match, text.splitlines()) if m]
    assert len(lines) == count, text
    calls = int(re.search(r"rand\(\) calls: (\d+)", text).group(1))
    return lines, calls


@pytest.mark.parametrize("seed", [3, 16, 21, 42, *range(100, 112)])
def test_draws_match_the_reference_predictor(reference, inputs, seed):
    count, nrir = 3, 2
    lines, calls = _predicted(reference, seed, count, nrir)
    rng = GlibcRand(seed)
    used = 0

    def rand() -> int:
        nonlocal used
        used += 1
        return rng.rand()

    lengths = [3277626, 4608000, 2304000]  # the reference inputs' byte sizes (df_draws')
    lcg = seed
    band_lp = 32
    for c, line in enumerate(lines):
        lcg, pos = lcg_positions(lcg, lengths)
        p = draw_sequence(rand, band_lp, nrir)
        band_lp = p.band_lp
        assert pos == [int(v) for v in line[1:4]], f"seq {c} positions"
        assert p.start_pos == int(line[4])
        assert 20 * math.log10(p.speech_gain) == pytest.approx(float(line[5]), abs=0.006)
        assert (p.noise_gain == 0) == (line[6] == "off")
        assert (p.fg_gain != 0) == (line[7] != "off")
        filters = [*p.noise_filter, *p.fg_filter, *p.speech_filter]
        for f, kind in zip(filters, line[9:15], strict=True):
            assert (not f.any()) == (kind == "id"), f"seq {c} filter {kind}"
        assert (p.lowpass, p.band_lp) == (int(line[15]), int(line[16]))
        assert str(p.rir) == line[17]
        assert (p.clip, p.quantize) == (line[18] == "True", line[19] == "True")
    assert used == calls


def test_reference_inputs_have_the_predictor_lengths(inputs):
    from rnnoise_kit.training.sources import open_source
    from rnnoise_kit.training.v02.generator import source_bytes

    sizes = [source_bytes(open_source(inputs[k])) for k in ("speech", "noise", "fg")]
    assert sizes == [3277626, 4608000, 2304000]


def test_kiss_convolution_of_a_delta_is_half_the_delayed_input():
    """README: a delta response at sample 2 gives 0.5 x(n-2) (C's 0.5 scale), to the FFT's
    float32 rounding."""
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal(SEQUENCE_SAMPLES) * 3000).astype(np.float32)
    delta = np.zeros(100, np.float32)
    delta[2] = 1
    y = x.copy()
    RirBank([delta], exact=True).apply(y, 0, early=False)
    expect = np.concatenate([[0, 0], 0.5 * x[:-2]]).astype(np.float32)
    # the 65536-point float32 FFT and its inverse round at every stage: about 1e-7 of the
    # block's largest sample (the README's 1.2e-7); a wrong delay, scale or block seam errs
    # by the size of the samples themselves
    assert np.max(np.abs(y - expect)) <= 4e-7 * np.max(np.abs(x))
