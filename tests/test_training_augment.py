"""Augmentation in the generator's default mode: each step does what it says, draws are seeded
and independent of --jobs, and the band limit, reverb and foreground rules hold row by row."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from helpers import training_noise as _noise
from helpers import training_speech as _speech
from rnnoise_kit.audio.bandwidth import effective_bandwidth
from rnnoise_kit.audio.io import resample, round_to_int
from rnnoise_kit.audio.rir import RIR_LEAD, early_response
from rnnoise_kit.cli import main
from rnnoise_kit.dsp.constants import FRAME_SIZE, NB_BANDS
from rnnoise_kit.errors import SettingError
from rnnoise_kit.training import augment as A
from rnnoise_kit.training import generator as G
from rnnoise_kit.training.layout import NOISE, VAD_COL
from rnnoise_kit.training.sources import open_source


def _rows(path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(-1, 87)


def _tail_rir(seed: int = 0, length: int = 9000) -> np.ndarray:
    """A direct path and an exponentially decaying tail that lasts well past the early window."""
    rng = np.random.default_rng(seed)
    rir = rng.standard_normal(length) * 0.3 * np.exp(-np.arange(length) / 3000.0)
    rir[:40] = 0
    rir[40] = 1.0
    return rir.astype(np.float32)


@pytest.fixture
def sources(tmp_path):
    sp, no, fg = tmp_path / "speech.raw", tmp_path / "noise.wav", tmp_path / "fg.raw"
    _speech(6.0).tofile(sp)
    sf.write(str(no), _noise(), 48000, subtype="PCM_16")
    _noise(3.0, seed=9).tofile(fg)
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    for i in range(3):
        _tail_rir(i).tofile(rirs / f"r{i}.f32")
    (rirs / "list.txt").write_text("r0.f32\nr1.f32\nr2.f32\n")
    return sp, no, fg, rirs / "list.txt"


def _gen(sources, out, steps="all", foreground=True, **kw):
    sp, no, fg, rirs = sources
    aug = A.Augmentation.from_steps(steps, rir=rirs, foreground=fg if foreground else None)
    return G.generate(sp, no, kw.pop("frames", 2 * G.GAIN_PERIOD + 77), out, augment=aug,
                      progress=False, **{"seed": 3, **kw})


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_same_bytes_whatever_jobs(tmp_path, sources, monkeypatch):
    monkeypatch.setattr(G, "SHARD_ROWS", G.GAIN_PERIOD)  # several shards in a short run
    _gen(sources, tmp_path / "a.f32", jobs=1)
    _gen(sources, tmp_path / "b.f32", jobs=1)
    _gen(sources, tmp_path / "c.f32", jobs=2)
    a = (tmp_path / "a.f32").read_bytes()
    assert a == (tmp_path / "b.f32").read_bytes() == (tmp_path / "c.f32").read_bytes()
    _gen(sources, tmp_path / "d.f32", seed=4)
    assert (tmp_path / "d.f32").read_bytes() != a


def test_generated_rooms_are_seeded(monkeypatch):
    monkeypatch.setattr(A, "ROOM_COUNT", 2)
    A._ROOMS.clear()
    first, info = A.response_bank(A.Augmentation(), 7)
    A._ROOMS.clear()
    again, _ = A.response_bank(A.Augmentation(), 7)
    A._ROOMS.clear()
    other, _ = A.response_bank(A.Augmentation(), 8)
    A._ROOMS.clear()
    assert info["rir_count"] == 2 and len(first) == 2
    first, again, other = ([bank[k] for k in range(len(bank))] for bank in (first, again, other))
    A._ROOMS.clear()
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[0][:other[0].size], other[0][:first[0].size])
    for rir in first:  # direct path 1 ms in, early part of unit energy
        assert int(np.argmax(np.abs(rir))) == RIR_LEAD
        assert np.sum(early_response(rir).astype(np.float64) ** 2) == pytest.approx(1, rel=1e-5)


def test_attributes_record_the_augmentation(tmp_path, sources):
    _gen(sources, tmp_path / "m.h5", frames=500)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        at = dict(f.attrs)
    assert at["augment"] == "reverb,filters,gains,clipping,band-limit"
    assert at["augment_rir_count"] == 3 and at["augment_rir"].endswith("list.txt")
    assert at["augment_foreground"].endswith("fg.raw") and len(at["foreground_sha256"]) == 64
    _gen(sources, tmp_path / "n.h5", steps="none", foreground=False, frames=500)
    with h5py.File(tmp_path / "n.h5", "r") as f:
        assert f.attrs["augment"] == "none" and f.attrs["augment_foreground"] == "none"


def test_steps_are_independent_and_none_is_plain_v01(tmp_path, sources):
    sp, no, _, _ = sources
    G.generate(sp, no, 3000, tmp_path / "plain.f32", seed=3, progress=False,
               augment=A.NO_AUGMENTATION)
    _gen(sources, tmp_path / "none.f32", steps="none", foreground=False, frames=3000)
    assert (tmp_path / "plain.f32").read_bytes() == (tmp_path / "none.f32").read_bytes()
    # every step alone changes the rows (band-limit: not on this speech, whose noise floor
    # makes it full band; its own test below uses a low-passed source)
    for step in A.STEPS:
        _gen(sources, tmp_path / f"{step}.f32", steps=step, foreground=False, frames=3000)
        changed = (tmp_path / f"{step}.f32").read_bytes() != (tmp_path / "none.f32").read_bytes()
        assert changed == (step != "band-limit"), step
    # a step's draws do not depend on the others: reverb+gains differs from gains alone only
    # where a response was drawn, and the VAD column (raw speech energies) never changes
    base = _rows(tmp_path / "none.f32")
    for step in A.STEPS:
        assert np.array_equal(_rows(tmp_path / f"{step}.f32")[:, 86], base[:, 86])


def test_rows_do_not_depend_on_block_size(tmp_path, sources, monkeypatch):
    _gen(sources, tmp_path / "a.f32", frames=3000)
    monkeypatch.setattr(G, "BLOCK_FRAMES", 97)
    _gen(sources, tmp_path / "b.f32", frames=3000)
    a, b = _rows(tmp_path / "a.f32"), _rows(tmp_path / "b.f32")
    # the overlap-save transforms see other block edges: float32 rounding, no more
    assert np.array_equal(a[:, 86], b[:, 86])
    assert np.array_equal(a[:, 42:64] == -1, b[:, 42:64] == -1)
    assert np.allclose(a, b, atol=2e-3)


# ----------------------------------------------------------------------------- reverb


def test_reverb_full_and_early_convolution_across_blocks():
    rng = np.random.default_rng(1)
    bank = [A.prepare_response(_tail_rir(0, 20000))]
    x = rng.standard_normal(250_000).astype(np.float32)
    rev = A.Reverb(bank)
    parts = [rev.process(x[a:b], 0) for a, b in ((0, 1000), (1000, 140_000), (140_000, 250_000))]
    full = np.concatenate([p[0] for p in parts])
    early = np.concatenate([p[1] for p in parts])
    # the reference in double (FFT convolution in float64: exact to about 1e-12)
    ref_full = fftconvolve(x.astype(np.float64), bank[0].astype(np.float64))[: x.size]
    ref_early = fftconvolve(x.astype(np.float64), early_response(bank[0]).astype(np.float64))
    # float32 FFTs of 131072 points: about 1e-6 of the signal's scale
    assert np.max(np.abs(full - ref_full)) < 1e-4 * np.max(np.abs(ref_full))
    assert np.max(np.abs(early - ref_early[: x.size])) < 1e-4 * np.max(np.abs(ref_early))
    dry = A.Reverb(bank).process(x[:5000], -1)
    assert dry[0] is not None and np.array_equal(dry[0], x[:5000])
    assert np.array_equal(dry[1], x[:5000])


def _speech_only_rows(bank, rir_index, n=600):
    """Rows of one segment of speech alone (unit gain, no filter, no noise)."""
    sp = open_source(_speech_path, "speech")
    no = open_source(_speech_path, "noise")
    kit = G.AugmentKit(A.Augmentation.from_steps("reverb"), bank)
    stream = G.Stream(sp, no, 0, 0, kit)
    p = G.SegmentParams(noise_gain=np.float32(0), aug=A.SegmentAugment(rir=rir_index))
    return stream.segment(p, n)


_speech_path = None


def test_reverb_target_is_direct_path_and_early_reflections(tmp_path):
    global _speech_path
    _speech_path = tmp_path / "s.raw"
    _speech(6.0).tofile(_speech_path)
    tail = A.prepare_response(_tail_rir(0))
    short = np.zeros(400, np.float32)  # everything inside the flat early window
    short[RIR_LEAD], short[200] = 1.0, 0.4
    bank = [tail, A.prepare_response(short)]
    dry = _speech_only_rows(bank, -1)[:, 42:64]
    assert set(np.unique(dry)) <= {-1.0, 1.0}  # reverb off: the target is the input
    within = _speech_only_rows(bank, 1)[:, 42:64]
    assert set(np.unique(within)) <= {-1.0, 1.0}  # a response inside the early window: kept
    reverberant = _speech_only_rows(bank, 0)[:, 42:64]
    kept = reverberant[reverberant >= 0]
    # late reverberation is in the input, not in the target: gains below 1 to remove it
    assert (kept < 0.9).mean() > 0.2 and kept.min() < 0.3


# ----------------------------------------------------------------------------- band limit


def test_effective_bandwidth():
    rng = np.random.default_rng(0)
    white = rng.standard_normal(48000 * 4) * 3000
    assert effective_bandwidth(round_to_int(white)) == 24000
    for rate in (8000, 16000, 22050):
        narrow = resample(rng.standard_normal(rate * 4) * 3000, rate, 48000)
        bw = effective_bandwidth(round_to_int(narrow))
        assert 0.9 * rate / 2 <= bw <= rate / 2 + 300, (rate, bw)
    assert effective_bandwidth(np.zeros(48000, np.int16)) is None
    assert effective_bandwidth(np.ones(100, np.int16)) is None


def test_band_of_frequency_follows_the_low_pass_rule():
    assert A.band_of_frequency(None) == NB_BANDS
    assert A.band_of_frequency(24000) == NB_BANDS
    # EDGE[13] = 80 bins of 50 Hz = 4 kHz: the band centred there keeps its target, and so
    # does band 14 (centre 4.8 kHz, whose lower slope is below the limit); 15 and up get -1
    assert A.band_of_frequency(4000) == 14
    assert A.band_of_frequency(3999) == 13 and A.band_of_frequency(4001) == 14


def test_band_limit_marks_the_bands_above_a_low_passed_source(tmp_path, sources):
    _, no, _, _ = sources
    wide = _speech(8.0).astype(np.float64)
    tel = round_to_int(resample(resample(wide, 48000, 8000), 8000, 48000))
    folder = tmp_path / "speech"
    folder.mkdir()
    sf.write(str(folder / "a_wide.wav"), round_to_int(wide), 48000, subtype="PCM_16")
    sf.write(str(folder / "b_tel.wav"), tel, 48000, subtype="PCM_16")
    limit = A.band_of_frequency(effective_bandwidth(tel))
    assert limit in (13, 14)  # a band limit just below or at 4 kHz
    for name, steps in (("off", "none"), ("on", "band-limit")):
        G.generate(folder, no, 5000, tmp_path / f"{name}.f32", seed=2, progress=False,
                   augment=A.Augmentation.from_steps(steps))
    off, on = _rows(tmp_path / "off.f32"), _rows(tmp_path / "on.f32")
    assert np.array_equal(off[:, :42], on[:, :42]) and np.array_equal(off[:, 64:], on[:, 64:])
    changed = off[:, 42:64] != on[:, 42:64]
    assert np.all(on[:, 42:64][changed] == -1)  # only ever marks "no target"
    assert not changed[:, : limit + 1].any()
    # the low-passed file's frames with speech: every band above its limit is marked;
    # frames without speech (VAD target 0) keep their targets (remove the noise)
    rows_changed = changed.any(axis=1)
    assert rows_changed.any() and np.all(on[rows_changed, 86] != 0)
    assert np.all(on[rows_changed][:, 42 + limit + 1: 64] == -1)
    assert np.any(on[on[:, 86] == 0][:, 42 + limit + 1: 64] != -1)


# ----------------------------------------------------------------------------- the others


def test_pole_zero_filters_are_stable_minimum_phase():
    rng = np.random.default_rng(5)
    identity = 0
    for _ in range(3000):
        for coeffs in A.pole_zero_filter(rng):
            roots = np.roots([1.0, float(coeffs[0]), float(coeffs[1])])
            assert np.all(np.abs(roots) <= 0.7 + 1e-6)
            identity += not coeffs.any()
    assert 0.6 < identity / 6000 < 0.73  # none 2/3 of the time


def test_gain_draws_cover_the_wide_range_and_keep_v01_zeros():
    aug = A.Augmenter(A.Augmentation.from_steps("gains"), 1, 0, 0, 0)
    speech = []
    for i in range(4000):
        p = G.SegmentParams(speech_gain=np.float32(0 if i % 10 == 0 else 1),
                            noise_gain=np.float32(0 if i % 7 == 0 else 1))
        q = aug.draw(p, 100)
        assert (q.speech_gain == 0) == (p.speech_gain == 0)
        assert (q.noise_gain == 0) == (p.noise_gain == 0)
        if q.speech_gain:
            speech.append(20 * np.log10(float(q.speech_gain)))
    assert -45 <= min(speech) < -40 and 15 < max(speech) <= 20


def test_clipping_and_quantisation_touch_only_the_input():
    x = np.array([-40000.2, -3.5, 0.49, 2.5, 33000.7], np.float32)
    y = x.copy()
    A.distort(y, A.SegmentAugment(clip=True, quantise=True))
    assert y.tolist() == [-32767, -3, 0, 3, 32767]
    z = x.copy()
    A.distort(z, A.SegmentAugment(clip=True))
    assert z.tolist() == np.float32([-32767, -3.5, 0.49, 2.5, 32767]).tolist()


def test_foreground_events_add_to_the_noise_only_where_they_are(tmp_path, sources):
    frames = 3000
    _gen(sources, tmp_path / "without.f32", steps="none", foreground=False, frames=frames)
    _gen(sources, tmp_path / "with.f32", steps="none", foreground=True, frames=frames)
    a, b = _rows(tmp_path / "without.f32"), _rows(tmp_path / "with.f32")
    assert np.array_equal(a[:, 86], b[:, 86])
    sp, _, fg, _ = sources
    augmenter = A.Augmenter(A.Augmentation.from_steps("none", foreground=fg), 3, 0, 0,
                            open_source(fg).length)
    touched = np.zeros(frames, bool)
    p = G.draw_params(lambda: 0, NB_BANDS)  # (positions do not depend on the levels)
    for first_row in (0, G.GAIN_PERIOD):  # the run's two segments
        n = min(G.GAIN_PERIOD, frames - first_row)
        for ev in augmenter.draw(p, n).aug.foreground:
            # frames whose analysis window (two frames) overlaps the event
            first = first_row + ev.start // FRAME_SIZE
            last = first_row + (ev.start + ev.length - 1) // FRAME_SIZE
            touched[first: min(frames, last + 2)] = True
    assert touched.any()  # this seed has events
    differ = np.any(a[:, 64:86] != b[:, 64:86], axis=1)
    assert differ.any() and not differ[~touched].any()


def test_cli_switches(tmp_path, sources, capsys):
    sp, no, fg, rirs = sources
    out = tmp_path / "m.f32"
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(out), "--augment", "reverb,band-limit", "--rir", str(rirs),
               "--foreground-noise", str(fg)])
    assert rc == 0 and out.stat().st_size == 600 * 87 * 4
    capsys.readouterr()
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "x.f32"), "--augment", "reverb,echo"])
    err = capsys.readouterr().err
    assert rc == 2 and "--augment has unknown step 'echo'" in err and len(err.splitlines()) == 1
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "y.f32"), "--foreground-noise", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope" in err and not (tmp_path / "y.f32").exists()


# ----------------------------------------------------------------------------- noise offset


def test_noise_offset_scales_every_noise_gain_after_the_draws():
    plain = A.Augmenter(A.Augmentation.from_steps("gains,filters"), 4, 0, 0, 0)
    shifted = A.Augmenter(A.Augmentation.from_steps("gains,filters", noise_offset_db=-20.0),
                          4, 0, 0, 0)
    for i in range(300):
        p = G.SegmentParams(speech_gain=np.float32(1), noise_gain=np.float32(0 if i % 9 == 0
                                                                              else 1))
        a, b = plain.draw(p, 100), shifted.draw(p, 100)
        assert a.speech_gain == b.speech_gain and np.array_equal(a.a_noise, b.a_noise)
        # float32 of (the drawn noise gain x float32(0.1)): zeros stay zeros
        assert b.noise_gain == np.float32(a.noise_gain * np.float32(0.1))


def test_noise_offset_on_plain_v01_rows(tmp_path, sources):
    """Alone (every step off) the offset still applies: the noise energies of the noise
    columns fall by 20 dB (log10 by 2, where they are well above the 0.01 floor)."""
    sp, no, _, _ = sources
    G.generate(sp, no, 3000, tmp_path / "plain.h5", seed=3, progress=False,
               augment=A.NO_AUGMENTATION)
    G.generate(sp, no, 3000, tmp_path / "off.h5", seed=3, progress=False,
               augment=A.Augmentation.from_steps("none", noise_offset_db=-20))
    with h5py.File(tmp_path / "plain.h5") as f, h5py.File(tmp_path / "off.h5") as g:
        a, b = f["data"][:], g["data"][:]
        assert "augment_noise_offset_db" not in f.attrs
        assert g.attrs["augment_noise_offset_db"] == -20 and g.attrs["augment"] == "none"
    loud = a[:, NOISE] > 2.0  # log10(0.01 + En) of the noise alone, En >= 100
    assert loud.sum() > 500
    np.testing.assert_allclose(b[:, NOISE][loud], a[:, NOISE][loud] - 2.0, atol=0.01)
    np.testing.assert_array_equal(b[:, VAD_COL], a[:, VAD_COL])  # the speech's alone


def test_noise_offset_refusals(tmp_path, sources, capsys):
    with pytest.raises(SettingError, match="noise_offset must be within"):
        A.Augmentation(noise_offset_db=75.0)
    sp, no, _, _ = sources
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "x.f32"), "--noise-offset", "-90"])
    err = capsys.readouterr().err
    assert rc == 2 and "--noise-offset must be within" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.f32").exists()
