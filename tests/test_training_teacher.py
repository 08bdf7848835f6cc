"""Teacher targets (``features --teacher``): an RNNoise 0.2 model's gains blended into the
v0.1 matrix's target gains. The teacher is pyrnnoise 0.4.5's model from the reference data
(the same weights as the registry's ``rnnoise-0.2``)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from helpers import training_noise as _noise
from helpers import training_speech as _speech
from rnnoise_kit.cli import main
from rnnoise_kit.dsp.constants import FRAME_SIZE
from rnnoise_kit.dsp.tables import band_weight_matrix
from rnnoise_kit.dsp.v02.analysis import analyse_v02, interp_band_gain
from rnnoise_kit.errors import SettingError
from rnnoise_kit.training import generator as G
from rnnoise_kit.training.augment import NO_AUGMENTATION
from rnnoise_kit.training.layout import FEATURES, GAINS, NOISE, VAD_COL
from rnnoise_kit.training.teacher import Teacher, teacher_band_gains


@pytest.fixture(scope="module")
def blob(reference):
    return reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"


@pytest.fixture
def sources(tmp_path):
    sp, no = tmp_path / "speech.raw", tmp_path / "noise.raw"
    _speech(6.0).tofile(sp)
    _noise().tofile(no)
    return sp, no


def _rows(path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(-1, 87)


def _noisy(frames: int, seed: int = 0) -> np.ndarray:
    speech = _speech(frames * FRAME_SIZE / 48000 + 0.1)[: frames * FRAME_SIZE]
    noise = _noise(frames * FRAME_SIZE / 48000 + 0.1, seed=seed)[: frames * FRAME_SIZE]
    return (speech.astype(np.float32) + 0.3 * noise.astype(np.float32)).reshape(frames,
                                                                                 FRAME_SIZE)


# ----------------------------------------------------------------------------- mapping


def test_band_mapping_of_flat_gains():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((5, 481)) + 1j * rng.standard_normal((5, 481))).astype(np.complex64)
    X *= 300
    for g in (1.0, 0.5, 0.1):
        got = teacher_band_gains(X, np.full((5, 32), g, np.float32))
        # 0.2's gains stop at bin 400 (its interpolation zeroes 400..480): v0.1's last band
        # (380..400, its top at 400) is the one band that sees that edge
        np.testing.assert_allclose(got[:, :21], g, rtol=2e-6)
        assert np.all(got[:, 21] <= g + 1e-6)
    zero = teacher_band_gains(X, np.zeros((5, 32), np.float32))
    assert np.all(zero < 1e-3)
    assert np.all(teacher_band_gains(X, np.full((5, 32), 2.0, np.float32)) <= 1.0)


def test_band_mapping_follows_the_band_that_changed():
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((1, 481)) + 1j * rng.standard_normal((1, 481))).astype(np.complex64)
    g = np.ones((1, 32), np.float32)
    g[0, 12] = 0.0  # one 0.2 band in the middle
    got = teacher_band_gains(X * 100, g)[0]
    touched_bins = interp_band_gain(g)[0, :400] < 1
    touched = band_weight_matrix()[:400][touched_bins].sum(axis=0) > 0  # v0.1 bands over them
    assert 0 < touched.sum() < 6
    np.testing.assert_allclose(got[:21][~touched[:21]], 1.0, rtol=1e-6)
    assert np.all(got[touched] < 0.99)


# ----------------------------------------------------------------------------- alignment


def test_row_t_is_taught_by_the_output_of_frame_t_plus_1(blob):
    from rnnoise_kit.model.formats import load_model
    from rnnoise_kit.model.v02.network import Network02

    n, w = 300, np.float32(0.25)
    noisy = _noisy(n)
    rows = np.zeros((n, 87), np.float32)
    rows[:, GAINS] = 0.5
    rows[::7, GAINS.start + 3] = -1  # "no target" stays -1
    stream = Teacher(str(blob), float(w)).resolve().stream()
    stream.blend(noisy, rows)

    res = analyse_v02(noisy.reshape(-1), highpass=False)
    net = Network02(load_model(blob))
    g02, _ = net.process(res.features, res.silence)
    assert not res.silence.any()
    teach = teacher_band_gains(res.X[:-1], g02[1:])
    want = (np.float32(1) - w) * np.float32(0.5) + w * teach
    got = rows[:-1, GAINS]
    ignore = np.zeros_like(got, bool)
    ignore[::7, 3] = True
    np.testing.assert_array_equal(got[~ignore], want[~ignore])
    assert np.all(got[ignore] == -1)
    assert np.all(rows[-1, GAINS] == 0.5)  # waits for the next frame
    assert np.all(rows[:, FEATURES] == 0)  # only the targets change


def test_blocks_give_the_rows_of_one_call(blob):
    n = 257
    noisy = _noisy(n, seed=2)
    base = np.zeros((n, 87), np.float32)
    base[:, GAINS] = np.linspace(0, 1, n * 22, dtype=np.float32).reshape(n, 22)
    teacher = Teacher(str(blob), 0.5).resolve()
    whole = base.copy()
    teacher.stream().blend(noisy, whole)
    parts = base.copy()
    s = teacher.stream()
    for a, b in ((0, 1), (1, 100), (100, 101), (101, n)):
        s.blend(noisy[a:b], parts[a:b])
    np.testing.assert_array_equal(parts, whole)


# ----------------------------------------------------------------------------- generator


def test_generator_blends_only_the_targets_and_keeps_jobs_invariance(tmp_path, sources, blob,
                                                                    monkeypatch):
    monkeypatch.setattr(G, "SHARD_ROWS", G.GAIN_PERIOD)  # several shards in a short run
    sp, no = sources
    frames = 2 * G.GAIN_PERIOD + 77
    common = dict(seed=5, progress=False, augment=NO_AUGMENTATION)
    plain = G.generate(sp, no, frames, tmp_path / "plain.f32", **common)
    teacher = Teacher(str(blob), 0.4)
    G.generate(sp, no, frames, tmp_path / "t1.f32", teacher=teacher, jobs=1, **common)
    G.generate(sp, no, frames, tmp_path / "t2.f32", teacher=teacher, jobs=2, **common)
    assert (tmp_path / "t1.f32").read_bytes() == (tmp_path / "t2.f32").read_bytes()
    a, b = _rows(plain.output), _rows(tmp_path / "t1.f32")
    for cols in (FEATURES, NOISE, slice(VAD_COL, VAD_COL + 1)):
        np.testing.assert_array_equal(a[:, cols], b[:, cols])
    ga, gb = a[:, GAINS], b[:, GAINS]
    np.testing.assert_array_equal(ga < 0, gb < 0)  # the -1 rules are the oracle's
    changed = (ga != gb) & (ga >= 0)
    assert changed.mean() > 0.5
    assert gb.max() <= 1.0
    # the last row of each shard keeps its oracle target
    for last in (G.GAIN_PERIOD - 1, 2 * G.GAIN_PERIOD - 1, frames - 1):
        np.testing.assert_array_equal(ga[last], gb[last])


def test_attributes_record_the_teacher(tmp_path, sources, blob):
    sp, no = sources
    r = G.generate(sp, no, 600, tmp_path / "m.h5", seed=1, progress=False,
                   teacher=Teacher(str(blob), 0.25))
    with h5py.File(r.output) as f:
        attrs = dict(f.attrs)
    assert attrs["teacher_weight"] == 0.25
    assert attrs["teacher"] == str(blob)
    assert len(attrs["teacher_sha256"]) == 64
    assert "t+1" in attrs["teacher_alignment"]
    assert attrs["augment"] != "none"  # the teacher comes on top of the augmentation


def test_refusals(tmp_path, sources, blob, reference):
    sp, no = sources
    with pytest.raises(SettingError, match="teacher_weight must be in"):
        Teacher(str(blob), 0.0)
    with pytest.raises(SettingError, match="compat mode"):
        G.generate(sp, no, 600, tmp_path / "c.f32", compat=True, progress=False,
                   teacher=Teacher(str(blob)))
    v01 = reference / "models" / "std.rnnn"
    with pytest.raises(SettingError, match="must be an RNNoise 0.2 model"):
        G.generate(sp, no, 600, tmp_path / "d.f32", progress=False, teacher=Teacher(str(v01)))
    assert not (tmp_path / "c.f32").exists() and not (tmp_path / "d.f32").exists()


def test_cli(tmp_path, sources, blob, capsys):
    sp, no = sources
    out = tmp_path / "m.f32"
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(out), "--augment", "none", "--teacher", str(blob),
               "--teacher-weight", "0.5"])
    assert rc == 0 and out.stat().st_size == 600 * 87 * 4
    capsys.readouterr()
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "x.f32"), "--teacher", str(blob), "--teacher-weight", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "--teacher-weight must be in (0, 1]" in err and len(err.splitlines()) == 1
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "y.f32"), "--teacher", str(blob), "--compat"])
    err = capsys.readouterr().err
    assert rc == 2 and "--teacher" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.f32").exists() and not (tmp_path / "y.f32").exists()


# ----------------------------------------------------------------------------- pause weight


def test_pause_weight_blends_pauses_and_speech_by_the_vad_target(tmp_path, sources, blob):
    """With a pause weight, each row is ``(1-w)*oracle + w*teacher`` with w by its own VAD
    target: the rows of weight 1 are the teacher's targets, so the blend is checked exactly."""
    sp, no = sources
    common = dict(seed=3, progress=False, augment=NO_AUGMENTATION)
    oracle = _rows(G.generate(sp, no, 1500, tmp_path / "o.f32", **common).output)
    teach = _rows(G.generate(sp, no, 1500, tmp_path / "t.f32", teacher=Teacher(str(blob), 1.0),
                             **common).output)
    both = _rows(G.generate(sp, no, 1500, tmp_path / "b.f32",
                            teacher=Teacher(str(blob), 0.2, pause_weight=0.9), **common).output)
    pause = oracle[:, VAD_COL] == 0
    assert 0.05 < pause.mean() < 0.95  # both kinds of rows are there
    w = np.where(pause, np.float32(0.9), np.float32(0.2)).astype(np.float32)[:, None]
    o, t = oracle[:, GAINS], teach[:, GAINS]
    # where the teacher did not run (a shard's last row, rows before a silent frame) the
    # weight-1 run kept the oracle target, and so does every run
    want = np.where((o >= 0) & (t != o), (np.float32(1) - w) * o + w * t, o)
    np.testing.assert_array_equal(both[:, GAINS], want)
    for cols in (FEATURES, NOISE, slice(VAD_COL, VAD_COL + 1)):
        np.testing.assert_array_equal(both[:, cols], oracle[:, cols])
    # the pause weight equal to the weight is the plain blend, to the byte
    G.generate(sp, no, 1500, tmp_path / "p.f32", teacher=Teacher(str(blob), 0.3), **common)
    G.generate(sp, no, 1500, tmp_path / "q.f32",
               teacher=Teacher(str(blob), 0.3, pause_weight=0.3), **common)
    assert (tmp_path / "p.f32").read_bytes() == (tmp_path / "q.f32").read_bytes()


def test_pause_weight_settings_and_attributes(tmp_path, sources, blob):
    assert Teacher(str(blob), 0.0, pause_weight=1.0).weights == (0.0, 1.0)
    assert Teacher(str(blob)).weights == (0.35, 0.35)
    assert Teacher.of("rnnoise-0.2", None, 0.5) == Teacher("rnnoise-0.2", 0.35, 0.5)
    assert Teacher(str(blob), 0.15, 1.0).weight_text == "weight 0.15, in pauses 1"
    for kwargs, name in (({"weight": 0.0, "pause_weight": 0.0}, "teacher_weight"),
                         ({"weight": 0.2, "pause_weight": 1.5}, "teacher_pause_weight"),
                         ({"weight": -0.1, "pause_weight": 0.5}, "teacher_weight")):
        with pytest.raises(SettingError, match=name):
            Teacher(str(blob), **kwargs)
    with pytest.raises(SettingError, match="teacher_pause_weight needs a teacher model"):
        Teacher.of(None, None, 0.5)
    sp, no = sources
    r = G.generate(sp, no, 600, tmp_path / "m.h5", seed=1, progress=False,
                   teacher=Teacher(str(blob), 0.15, pause_weight=1.0))
    with h5py.File(r.output) as f:
        assert f.attrs["teacher_weight"] == 0.15 and f.attrs["teacher_pause_weight"] == 1.0
    r = G.generate(sp, no, 600, tmp_path / "n.h5", seed=1, progress=False,
                   teacher=Teacher(str(blob), 0.15))
    with h5py.File(r.output) as f:
        assert "teacher_pause_weight" not in f.attrs


def test_cli_pause_weight(tmp_path, sources, blob, capsys):
    sp, no = sources
    out = tmp_path / "m.h5"
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(out), "--augment", "none", "--teacher", str(blob),
               "--teacher-weight", "0", "--teacher-pause-weight", "1"])
    assert rc == 0
    with h5py.File(out) as f:
        assert f.attrs["teacher_weight"] == 0 and f.attrs["teacher_pause_weight"] == 1
    capsys.readouterr()
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "600",
               "-o", str(tmp_path / "x.f32"), "--teacher-pause-weight", "0.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "--teacher-pause-weight needs a teacher model" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "x.f32").exists()
