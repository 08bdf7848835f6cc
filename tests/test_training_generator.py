"""The training-matrix generator (``rnnoise-kit features``): rand emulation, sources, modes,
outputs, errors."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from helpers import training_noise as _noise
from helpers import training_speech as _speech
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError
from rnnoise_kit.training import generator as G
from rnnoise_kit.training.glibc_rand import GlibcRand, first_values
from rnnoise_kit.training.matrix import MatrixReader, convert, inspect
from rnnoise_kit.training.sources import open_source

# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def audio(tmp_path) -> tuple[Path, Path]:
    sp = tmp_path / "speech.raw"
    no = tmp_path / "noise.wav"
    _speech().tofile(sp)
    sf.write(str(no), _noise(), 48000, subtype="PCM_16")
    return sp, no


def _rows(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(-1, 87)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- glibc rand


def test_glibc_rand_first_values():
    assert first_values(3) == [1804289383, 846930886, 1681692777]
    assert first_values(3, seed=0) == first_values(3, seed=1)  # glibc treats 0 as 1
    assert first_values(1, seed=42) == [71876166]


def test_glibc_rand_matches_the_spec_recurrence():
    r = [1] + [0] * 2000
    for i in range(1, 31):
        r[i] = (16807 * r[i - 1]) % 2147483647
    for i in range(31, 34):
        r[i] = r[i - 31]
    for i in range(34, len(r)):
        r[i] = (r[i - 31] + r[i - 3]) % (1 << 32)
    want = [r[k + 344] >> 1 for k in range(len(r) - 344)]
    assert first_values(len(want)) == want


def test_glibc_rand_helpers_follow_c_formulas():
    a, b = GlibcRand(1), GlibcRand(1)
    r = [b.rand() for _ in range(4)]
    uni = [np.float32(v / 2147483647.0 - 0.5) for v in r]
    aa, bb = a.rand_resp()
    want = [np.float32(0.75 * float(u)) for u in uni]
    assert list(aa) + list(bb) == want
    assert all(abs(v) <= 0.375 for v in want)


def test_draw_params_ranges_and_stale_band_lp():
    rng = GlibcRand(1)
    band_lp = 22
    seen_stale = False
    for _ in range(300):
        p = G.draw_params(rng.rand, band_lp)
        assert 60 <= p.lowpass <= 3006
        if p.lowpass >= 400:
            seen_stale |= p.band_lp == band_lp
            assert p.band_lp == band_lp
        else:
            assert G.EDGE[p.band_lp] > p.lowpass and G.EDGE[p.band_lp - 1] <= p.lowpass
        assert np.all(np.abs(p.a_sig) <= 0.375) and np.all(np.abs(p.b_noise) <= 0.375)
        assert 0 <= p.noise_gain <= np.float32(10 ** (19 / 20)) ** 2 * 1.0001
        assert p.speech_gain == 0 or 0.0099 < p.speech_gain < 9
        band_lp = p.band_lp
    assert seen_stale


# ----------------------------------------------------------------------------- sources


def test_read_frames_rewinds_and_drops_partial_frame(tmp_path):
    x = np.arange(480 * 3 + 100, dtype=np.int16)
    p = tmp_path / "s.raw"
    x.tofile(p)
    src = open_source(p)
    frames, pos = G._read_frames(src, 480 * 2, 3)
    assert np.array_equal(frames[0], x[960:1440])
    assert np.array_equal(frames[1], x[0:480])  # 100 left < 480: rewind, partial dropped
    assert np.array_equal(frames[2], x[480:960])
    assert pos == 960
    # a read ending exactly at the end does not rewind early
    y = np.arange(960, dtype=np.int16)
    y.tofile(p)
    frames, pos = G._read_frames(open_source(p), 0, 3)
    assert np.array_equal(frames[2], frames[0]) and pos == 480


def test_folder_source_concatenates_in_natural_order_with_resampling(tmp_path):
    d = tmp_path / "clean"
    d.mkdir()
    a = (np.arange(4800) % 1000 - 500).astype(np.int16)
    sf.write(str(d / "f2.wav"), a, 48000, subtype="PCM_16")
    sf.write(str(d / "f10.wav"), np.zeros(1600, np.int16) + 1000, 16000, subtype="PCM_16")
    st = np.stack([a[:2000], -a[:2000]], axis=1)
    sf.write(str(d / "f3.flac"), st, 48000, subtype="PCM_16")
    (d / "bad.wav").write_bytes(b"not audio at all")
    src = open_source(d, "speech")
    names = [Path(e.path).name for e in src.entries]
    assert names == ["f2.wav", "f3.flac", "f10.wav"]
    assert [Path(p).name for p, _ in src.skipped] == ["bad.wav"]
    assert src.length == 4800 + 2000 + 4800
    whole = src.read(0, src.length)
    assert np.array_equal(whole[:4800], a)
    assert np.all(whole[4800:6800] == 0)  # stereo mixed down: a and -a cancel
    assert abs(int(np.median(whole[7000:11000])) - 1000) <= 2  # resampled 16 kHz -> 48 kHz
    # reads across file boundaries agree with the whole
    assert np.array_equal(src.read(4700, 300), whole[4700:5000])
    assert np.array_equal(src.read(6700, 500), whole[6700:7200])


def test_wav_and_raw_twins_give_identical_matrices(tmp_path, audio):
    sp, no = audio
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), np.fromfile(sp, dtype="<i2"), 48000, subtype="PCM_16")
    raw_no = tmp_path / "noise.raw"
    sf.read(str(no), dtype="int16")[0].astype("<i2").tofile(raw_no)
    G.generate(sp, no, 600, tmp_path / "a.f32", compat=True, progress=False)
    G.generate(wav, raw_no, 600, tmp_path / "b.f32", compat=True, progress=False)
    assert (tmp_path / "a.f32").read_bytes() == (tmp_path / "b.f32").read_bytes()


# ----------------------------------------------------------------------------- modes


def test_compat_rows_follow_the_rules(tmp_path, audio):
    sp, no = audio
    out = tmp_path / "c.f32"
    G.generate(sp, no, 3000, out, compat=True, progress=False)
    rows = _rows(out)
    assert rows.shape == (3000, 87) and np.isfinite(rows).all()
    g = rows[:, 42:64]
    assert np.all((g == -1) | ((g >= 0) & (g <= 1)))
    assert set(np.unique(rows[:, 86])) <= {0.0, 0.5, 1.0}
    assert np.all(rows[:, 64:86] >= -2.0001)  # log10(0.01 + En)
    # the first 2821 rows use unit gains and no low-pass: upper bands are not all ignored
    assert (g[:2821, 21] != -1).any()


def test_same_seed_same_output_whatever_jobs(tmp_path, audio, monkeypatch):
    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", G.GAIN_PERIOD)  # several shards in a short run
    n = 3 * G.GAIN_PERIOD + 123
    G.generate(sp, no, n, tmp_path / "j1.f32", seed=5, jobs=1, progress=False)
    G.generate(sp, no, n, tmp_path / "j2.f32", seed=5, jobs=2, progress=False)
    a, b = (tmp_path / "j1.f32").read_bytes(), (tmp_path / "j2.f32").read_bytes()
    assert len(a) == n * 87 * 4 and a == b
    G.generate(sp, no, n, tmp_path / "j1.h5", seed=5, jobs=1, progress=False)
    G.generate(sp, no, n, tmp_path / "j2.h5", seed=5, jobs=2, progress=False)
    with h5py.File(tmp_path / "j1.h5", "r") as f1, h5py.File(tmp_path / "j2.h5", "r") as f2:
        d1, d2 = f1["data"][:], f2["data"][:]
        assert d1.dtype == np.float32 and d1.shape == (n, 87)
        assert f1["data"].chunks is not None
        assert np.array_equal(d1, d2)
        assert np.array_equal(d1, _rows(tmp_path / "j1.f32"))
        assert f1.attrs["seed"] == 5 and f1.attrs["mode"] == "default"
        assert len(f1.attrs["noise_sha256"]) == 64
    G.generate(sp, no, n, tmp_path / "s6.f32", seed=6, progress=False)
    assert (tmp_path / "s6.f32").read_bytes() != a


def test_interrupt_leaves_no_output(tmp_path, audio, monkeypatch):
    sp, no = audio
    calls = {"n": 0}
    real = G.Stream.segment

    def boom(self, p, n):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, p, n)

    monkeypatch.setattr(G.Stream, "segment", boom)
    out = tmp_path / "out" / "m.h5"
    with pytest.raises(KeyboardInterrupt):
        G.generate(sp, no, 3 * G.GAIN_PERIOD, out, compat=True, progress=False)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


# ----------------------------------------------------------------------------- files


def test_convert_and_inspect(tmp_path, audio, capsys):
    sp, no = audio
    f32 = tmp_path / "m.f32"
    G.generate(sp, no, 1000, f32, compat=True, progress=False)
    rc, out, _ = _cli(capsys, "features", "--convert", str(f32), str(tmp_path / "m.h5"))
    assert rc == 0 and "1000 rows" in out
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert np.array_equal(f["data"][:], _rows(f32))
    ins = inspect(tmp_path / "m.h5")
    assert ins.rows == 1000
    assert sum(v for k, v in ins.vad_counts.items()) == 1000
    assert ins.ignored_share.shape == (22,)
    assert np.all(ins.col_min <= ins.col_max)
    rc, out, _ = _cli(capsys, "features", "--inspect", str(f32))
    assert rc == 0 and "1000 rows" in out and "VAD target" in out
    # a .f32 whose size is not whole rows
    bad = tmp_path / "bad.f32"
    bad.write_bytes(b"\0" * 100)
    rc, _, err = _cli(capsys, "features", "--convert", str(bad), str(tmp_path / "bad.h5"))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.h5").exists()


def test_matrix_reader_streams_blocks(tmp_path):
    rows = np.arange(10 * 87, dtype=np.float32).reshape(10, 87)
    p = tmp_path / "r.f32"
    rows.tofile(p)
    r = MatrixReader(p)
    got = np.concatenate([b for _, b in r.blocks(block=3)])
    assert np.array_equal(got, rows)
    assert convert(p, tmp_path / "r.h5") == 10


# ----------------------------------------------------------------------------- errors


def _bad_inputs(tmp_path: Path, good: Path) -> dict[str, tuple[Path, Path]]:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEjunkjunkjunk")
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    silent = tmp_path / "silent.raw"
    np.zeros(48000, np.int16).tofile(silent)
    short = tmp_path / "short.raw"
    np.ones(479, np.int16).tofile(short)
    empty_dir = tmp_path / "emptydir"
    empty_dir.mkdir()
    nan, inf = tmp_path / "nan.wav", tmp_path / "inf.wav"
    x = (_noise(1.0) / 32768.0).astype(np.float32)
    x[1000] = np.nan
    sf.write(str(nan), x, 48000, subtype="FLOAT")
    x[1000] = -np.inf
    sf.write(str(inf), x, 44100, subtype="DOUBLE")  # another rate: decoded, not read direct
    return {
        "nan": (nan, good),
        "inf-noise": (good, inf),
        "missing": (tmp_path / "nope.wav", good),
        "corrupt": (corrupt, good),
        "empty": (empty, good),
        "silent": (silent, good),
        "short": (short, good),
        "short-noise": (good, short),
        "empty-folder": (empty_dir, good),
    }


@pytest.mark.parametrize(
    "case", ["missing", "corrupt", "empty", "silent", "short", "short-noise", "empty-folder",
             "nan", "inf-noise"]
)
def test_bad_inputs_one_line_exit_2_no_output(tmp_path, audio, capsys, case):
    sp, no = audio
    speech, noise = _bad_inputs(tmp_path, sp)[case]
    out = tmp_path / "o" / "m.h5"
    rc, _, err = _cli(capsys, "features", "--speech", str(speech), "--noise", str(noise),
                      "--frames", "100", "-o", str(out))
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnoise-kit: ")
    assert "Traceback" not in err
    assert not out.exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []


def test_bad_arguments_exit_2(tmp_path, audio, capsys):
    sp, no = audio
    for argv in (
        ["features", "--speech", str(sp), "--noise", str(no), "--frames", "0", "-o",
         str(tmp_path / "x.f32")],
        ["features", "--speech", str(sp), "--noise", str(no), "--frames", "10", "-o",
         str(tmp_path / "x.txt")],
        ["features", "--speech", str(sp), "--frames", "10", "-o", str(tmp_path / "x.f32")],
        ["features", "--speech", str(sp), "--noise", str(no), "--frames", "10", "--seed", "-1",
         "-o", str(tmp_path / "x.f32")],
        ["features", "--speech", str(sp), "--noise", str(no), "--frames", "10", "--jobs", "0",
         "-o", str(tmp_path / "x.f32")],
        ["features", "--inspect", str(tmp_path / "none.h5")],
        ["features"],
    ):
        rc, _, err = _cli(capsys, *argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert not any(p.name.startswith("x.") for p in tmp_path.iterdir())


def test_folder_with_unreadable_file_is_skipped_and_listed(tmp_path, audio, capsys):
    sp, no = audio
    d = tmp_path / "speech"
    d.mkdir()
    sf.write(str(d / "a.wav"), np.fromfile(sp, dtype="<i2"), 48000, subtype="PCM_16")
    (d / "b.wav").write_bytes(b"garbage, not a wav file")
    out = tmp_path / "m.f32"
    rc, out_text, err = _cli(capsys, "features", "--speech", str(d), "--noise", str(no),
                             "--frames", "500", "-o", str(out))
    assert rc == 0
    assert "skipped" in err and "b.wav" in err
    assert _rows(out).shape == (500, 87)


def test_open_source_errors_name_the_file(tmp_path):
    with pytest.raises(InputError) as e:
        open_source(tmp_path / "missing.raw", "noise")
    assert "missing.raw" in str(e.value) and "noise" in str(e.value)


@pytest.mark.skipif(os.name != "posix", reason="file permissions")
def test_unreadable_single_file_is_an_error(tmp_path, audio, capsys):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    sp, no = audio
    os.chmod(sp, 0)
    rc, _, err = _cli(capsys, "features", "--speech", str(sp), "--noise", str(no),
                      "--frames", "10", "-o", str(tmp_path / "m.f32"))
    assert rc == 2


def test_rows_do_not_depend_on_block_size(tmp_path, audio, monkeypatch):
    sp, no = audio
    G.generate(sp, no, 2900, tmp_path / "a.f32", compat=True, progress=False)
    monkeypatch.setattr(G, "BLOCK_FRAMES", 97)
    G.generate(sp, no, 2900, tmp_path / "b.f32", compat=True, progress=False)
    assert (tmp_path / "a.f32").read_bytes() == (tmp_path / "b.f32").read_bytes()


def test_worker_input_error_reaches_the_parent(tmp_path, audio, monkeypatch):
    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", 500)

    def broken(seed, index, rows, speech, noise, kit=None):
        raise InputError(tmp_path / "x.wav", "cannot be decoded (test)")

    monkeypatch.setattr(G, "shard_rows", broken)
    out = tmp_path / "m.f32"
    with pytest.raises(InputError, match="x.wav: cannot be decoded"):
        G.generate(sp, no, 2000, out, seed=1, jobs=2, progress=False)
    assert not out.exists() and list(tmp_path.glob(".m.f32*")) == []


def test_fused_filters_match_the_dsp_biquad():
    from rnnoise_kit.dsp.biquad import A_HP, B_HP, biquad

    rng = np.random.default_rng(3)
    s = np.clip(rng.standard_normal((6, 480)) * 8000, -32768, 32767).astype(np.int16)
    s2 = np.clip(rng.standard_normal((6, 480)) * 3000, -32768, 32767).astype(np.int16)
    b1, a1 = np.float32([0.3, -0.2]), np.float32([-0.1, 0.35])
    b2, a2 = np.float32([-0.25, 0.1]), np.float32([0.2, -0.3])
    g1, g2 = np.float32(0.7), np.float32(0.05)
    out1, out2 = np.empty((6, 480), np.float32), np.empty((6, 480), np.float32)
    energy = np.full(9, np.nan, np.float32)
    mems = [np.zeros(2, np.float32) for _ in range(4)]
    G._scale_filter(s[:3], g1, mems[0], mems[1], b1, a1, out1[:3], energy[:3],
                    s2[:3], g2, mems[2], mems[3], b2, a2, out2[:3])
    G._scale_filter(s[3:], g1, mems[0], mems[1], b1, a1, out1[3:], energy[3:6],  # carries over
                    np.empty((0, 480), np.int16), g2, mems[2], mems[3], b2, a2, out2[3:])
    y, _ = biquad(g1 * s.reshape(-1).astype(np.float32), None, B_HP, A_HP)
    y, _ = biquad(y, None, b1, a1)
    assert np.array_equal(out1.reshape(-1), y)
    # the speech's VAD energy comes out of the same pass: the separate kernel's bits
    assert np.array_equal(energy[:6], G._frame_energy(s))
    scratch = [np.zeros(2, np.float32) for _ in range(4)]
    G._scale_filter(np.empty((0, 480), np.int16), g1, *scratch[:2], b1, a1,
                    np.empty((3, 480), np.float32), energy[6:], s2[:3], g2, *scratch[2:], b2,
                    a2, np.empty((3, 480), np.float32))
    assert np.array_equal(energy[6:], np.zeros(3, np.float32))  # silent speech: no energy
    x2 = g2 * s2.astype(np.float32)
    x2[3:] = 0  # a silent block: input 0, the filters keep ringing
    y2, _ = biquad(x2.reshape(-1), None, B_HP, A_HP)
    y2, _ = biquad(y2, None, b2, a2)
    assert np.array_equal(out2.reshape(-1), y2)


def test_non_finite_file_in_a_folder_is_skipped_and_listed(tmp_path):
    folder = tmp_path / "speech"
    folder.mkdir()
    sf.write(str(folder / "a.wav"), _speech(1.0), 48000, subtype="PCM_16")
    x = (_speech(1.0) / 32768.0).astype(np.float32)
    x[5] = np.nan
    sf.write(str(folder / "b.wav"), x, 48000, subtype="FLOAT")
    src = open_source(folder, "speech")
    assert [Path(e.path).name for e in src.entries] == ["a.wav"]
    assert [(Path(p).name, r) for p, r in src.skipped] == [
        ("b.wav", "contains NaN or infinite samples")]


def test_hdf5_data_group_is_one_line(tmp_path, capsys):
    bad = tmp_path / "g.h5"
    with h5py.File(bad, "w") as f:
        f.create_group("data").create_dataset("rows", data=np.zeros((10, 87), np.float32))
    with pytest.raises(InputError, match="group"):
        MatrixReader(bad)
    rc, _, err = _cli(capsys, "features", "--inspect", str(bad))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "group" in err


def test_frames_beyond_the_disk_are_refused_up_front(tmp_path, audio, capsys):
    sp, no = audio
    out = tmp_path / "o" / "m.f32"
    rc, _, err = _cli(capsys, "features", "--speech", str(sp), "--noise", str(no),
                      "--frames", str(10**13), "-o", str(out))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "10000000000000 rows x 87 float32 would take 3.1 PiB" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
