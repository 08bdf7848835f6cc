"""Commands never destroy a user's file, fail cleanly on the output side, and leave no partial
output under SIGTERM or SIGKILL (the README's exit-code and "never half-written" promises)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit import Denoiser
from rnnoise_kit.cli import main
from rnnoise_kit.errors import OutputError

SRC = str(Path(__file__).parents[1] / "src")


def _wav(path: Path, seconds: float = 0.5, rate: int = 48000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(str(path), x, rate, subtype="PCM_16")
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip()


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _run_cli(args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-m", "rnnoise_kit.cli", *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def speech_and_noise(folder: Path) -> tuple[Path, Path]:
    """A ``.raw`` of voiced bursts and a noise WAV, as ``features`` takes them."""
    t = np.arange(4 * 48000) / 48000
    rng = np.random.default_rng(1)
    burst = (np.sin(2 * np.pi * 1.3 * t) > -0.2) * np.sin(2 * np.pi * 150 * t)
    sp = folder / "speech.raw"
    np.rint(6000 * burst + 30 * rng.standard_normal(t.size)).astype("<i2").tofile(sp)
    no = _wav(folder / "noise.wav", 5, seed=2)
    return sp, no


def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                       capture_output=True)
    return r.returncode == 0


# ----------------------------------------------------------------------------- output = input


def test_dump_features_refuses_its_input_and_a_wrong_suffix(tmp_path, capsys):
    wav = _wav(tmp_path / "in.wav")
    before = wav.read_bytes()
    rc, err = _cli(capsys, "dump-features", wav, "-o", wav)
    assert rc == 2 and "would overwrite its input" in err and len(err.splitlines()) == 1
    assert wav.read_bytes() == before
    (tmp_path / "link.npy").symlink_to(wav)
    rc, err = _cli(capsys, "dump-features", wav, "-o", tmp_path / "link.npy")
    assert rc == 2 and wav.read_bytes() == before
    rc, err = _cli(capsys, "dump-features", wav, "-o", tmp_path / "x.wav")
    assert rc == 2 and ".npy" in err and not (tmp_path / "x.wav").exists()
    assert _files(tmp_path) == ["in.wav", "link.npy"]


def test_prepare_refuses_manifest_on_output_and_wrong_suffixes(tmp_path, capsys):
    src = tmp_path / "src"
    _wav(src / "a.wav")
    out = tmp_path / "x.raw"
    rc, err = _cli(capsys, "prepare", src, "-o", out, "--manifest", out)
    assert rc == 2 and "same file as another output" in err
    rc, err = _cli(capsys, "prepare", src, "-o", tmp_path / "x.wav")
    assert rc == 2 and ".raw" in err
    rc, err = _cli(capsys, "prepare", src, "-o", out, "--manifest", tmp_path / "m.raw")
    assert rc == 2 and ".json" in err
    raw = tmp_path / "speech.raw"
    raw.write_bytes(b"\x01\x00" * 4800)
    rc, err = _cli(capsys, "prepare", raw, "-o", raw)
    assert rc == 2 and "would overwrite its input" in err and raw.stat().st_size == 9600
    assert _files(tmp_path) == ["speech.raw", "src/a.wav"]


def test_prepare_outputs_appear_together(tmp_path, monkeypatch, capsys):
    src = tmp_path / "src"
    _wav(src / "a.wav")
    out = tmp_path / "o"
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.startswith(".m.json."):
            _enospc()
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    rc, err = _cli(capsys, "prepare", src, "-o", out / "x.raw", "--manifest", out / "m.json",
                   "--preview", "1", "--jobs", "1")
    # write() names no file: the message names the set's main output
    assert rc == 2 and err == f"rnnoise-kit: {out / 'x.raw'}: no space left on the device"
    assert _files(out) == []


def test_denoise_file_refuses_its_input(tmp_path):
    wav = _wav(tmp_path / "a.wav")
    before = wav.read_bytes()
    den = Denoiser()
    with pytest.raises(OutputError, match="would overwrite its input"):
        den.denoise_file(wav, wav)
    os.link(wav, tmp_path / "hard.wav")
    with pytest.raises(OutputError, match="would overwrite"):
        den.denoise_file(wav, tmp_path / "hard.wav")
    with pytest.raises(OutputError, match="unknown audio format"):
        den.denoise_file(wav, tmp_path / "out")
    assert wav.read_bytes() == before and _files(tmp_path) == ["a.wav", "hard.wav"]


def test_export_and_convert_refuse_their_input(tmp_path, capsys):
    from rnnoise_kit.model import load_model, save_model
    from rnnoise_kit.model.registry import default_model_path

    model = tmp_path / "m.rnnn"
    save_model(load_model(default_model_path()), model)
    before = model.read_bytes()
    rc, err = _cli(capsys, "model", "convert", model, model)
    assert rc == 2 and "would overwrite its input" in err and model.read_bytes() == before


# ----------------------------------------------------------------------------- full disk etc.


def test_denoise_out_dir_one_failed_write_names_it_and_goes_on(tmp_path, monkeypatch, capsys):
    import rnnoise_kit.audio.io as io_mod

    ins = [_wav(tmp_path / f"{n}.wav", seed=i) for i, n in enumerate("abc")]
    out = tmp_path / "out"
    real = io_mod.sf.write

    def full_on_b(path, *a, **k):
        if Path(path).name.startswith(".b.wav."):
            Path(path).write_bytes(b"RIFF")  # libsndfile got this far before the disk filled
            raise sf.LibsndfileError(2, "")
        return real(path, *a, **k)

    monkeypatch.setattr(io_mod.sf, "write", full_on_b)
    monkeypatch.setattr(io_mod, "write_problem", lambda exc, p: "no space left on the device")
    rc = main(["denoise", *map(str, ins), "--out-dir", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert f"{out / 'b.wav'}: no space left on the device" in captured.err
    assert "internal error" not in captured.err and ".part" not in captured.err
    assert _files(out) == ["a.wav", "c.wav"]


def test_denoise_into_a_read_only_or_missing_place_is_one_line(tmp_path, capsys):
    wav = _wav(tmp_path / "a.wav")
    (tmp_path / "file").write_text("x")
    rc, err = _cli(capsys, "denoise", wav, "-o", tmp_path / "file" / "o.wav")
    assert rc == 2 and len(err.splitlines()) == 1
    assert "a parent of it is a file" in err and str(tmp_path / "file" / "o.wav") in err
    (tmp_path / "d.wav").mkdir()
    rc, err = _cli(capsys, "denoise", wav, "-o", tmp_path / "d.wav")
    assert rc == 2 and "is a folder" in err


def test_features_h5_on_a_full_disk_fails_cleanly(tmp_path):
    small = tmp_path / "small"
    if not _tmpfs(small, "1m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        sp, no = speech_and_noise(tmp_path)
        # up front: 5000 rows need 1.7 MB
        p = _run_cli(["features", "--speech", sp, "--noise", no, "--frames", 5000,
                      "-o", small / "m.h5"])
        out, err = p.communicate(timeout=300)
        assert p.returncode == 2, err
        assert err.strip().startswith(
            f"rnnoise-kit: {small / 'm.h5'}: 5000 rows x 87 float32 would take 1.7 MiB")
        # at write time (the space check skipped): HDF5 used to crash the interpreter (exit 139)
        code = ("import sys, rnnoise_kit.training.matrix as m\n"
                "m.check_matrix_room = lambda *a: None\n"
                "from rnnoise_kit.cli import main\n"
                f"sys.exit(main(['features', '--speech', {str(sp)!r}, '--noise', {str(no)!r},"
                f" '--frames', '5000', '-o', {str(small / 'm.h5')!r}]))\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": SRC}, timeout=300)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip() == f"rnnoise-kit: {small / 'm.h5'}: no space left on the device"
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_export_c_on_a_full_disk_leaves_neither_file(tmp_path, monkeypatch, capsys):
    from rnnoise_kit.model import load_model, save_model
    from rnnoise_kit.model.registry import default_model_path

    model = tmp_path / "m.rnnn"
    save_model(load_model(default_model_path()), model)
    real = Path.write_text

    def full(self, text, *a, **k):
        if self.name.startswith(".a.c."):
            _enospc()
        return real(self, text, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    rc, err = _cli(capsys, "model", "convert", model, tmp_path / "a.c")
    assert rc == 2 and err == f"rnnoise-kit: {tmp_path / 'a.c'}: no space left on the device"
    assert _files(tmp_path) == ["m.rnnn"]


def test_balance_on_a_full_disk_leaves_nothing_and_a_rerun_works(tmp_path, monkeypatch, capsys):
    import rnnoise_kit.audio.balance as bal

    root = tmp_path / "root"
    for g in "abc":
        for i in range(2):
            _wav(root / g / f"f{i}.wav", seed=i)
    out = tmp_path / "out"
    calls = []
    real = bal.shutil.copy2

    def full_at_4(src, dst):
        calls.append(src)
        if len(calls) == 4:
            _enospc()
        return real(src, dst)

    monkeypatch.setattr(bal.shutil, "copy2", full_at_4)
    args = ["balance", root, "--folders", "a,b,c", "-o", out, "--by", "count"]
    rc, err = _cli(capsys, *args)
    assert rc == 2 and err == f"rnnoise-kit: {out}: no space left on the device"
    assert not out.exists() and os.listdir(tmp_path) == ["root"]
    monkeypatch.setattr(bal.shutil, "copy2", real)
    assert main(list(map(str, args))) == 0
    assert len(_files(out)) == 7 and "balance.csv" in _files(out)


def test_balance_killed_while_moving_into_a_folder_then_rerun(tmp_path):
    """SIGKILL between two of the final moves into an existing output folder left part of
    the chosen files, and the rerun refused them as existing destinations."""
    root = tmp_path / "root"
    for g in "abc":
        for i in range(2):
            _wav(root / g / f"f{i}.wav", seed=i)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["balance", root, "--folders", "a,b,c", "-o", out, "--by", "count"]
    code = ("import os, signal, sys\n_real, _n = os.replace, [0]\n"
            "def _replace(a, b):\n"
            "    _n[0] += 1\n"
            "    if _n[0] == 4:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return _real(a, b)\n"
            "os.replace = _replace\n"
            "from rnnoise_kit.cli import main\n"
            f"sys.exit(main({[str(a) for a in args]!r}))\n")
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC})
    assert r.returncode == -9 and len(_files(out)) > 1  # some files were moved in
    p = _run_cli(args)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert len(_files(out)) == 8 and "balance.csv" in _files(out) and "notes.txt" in _files(out)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_balance_and_mix_on_a_real_full_tmpfs(tmp_path, capsys):
    small = tmp_path / "small"
    if not _tmpfs(small, "1m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        root = tmp_path / "root"
        for g in "ab":
            for i in range(3):
                _wav(root / g / f"f{i}.wav", seconds=4, seed=i)  # 384 KB each
        rc, err = _cli(capsys, "balance", root, "--folders", "a,b", "-o", small / "bal",
                       "--by", "count")
        assert rc == 2 and err == f"rnnoise-kit: {small / 'bal'}: no space left on the device"
        assert os.listdir(small) == []
        rc, err = _cli(capsys, "mix", "--speech", root / "a", "--noise", root / "b",
                       "-o", small / "mix", "--count", 4, "--seconds", 3)
        # mix knows its output size up front (capacity.check_disk): refused before any work
        assert rc == 2 and err.startswith(f"rnnoise-kit: {small / 'mix'}: ")
        assert "more than the" in err and err.endswith("free on that disk; nothing was written")
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_mix_failure_leaves_no_folder_and_a_rerun_works(tmp_path, monkeypatch, capsys):
    import rnnoise_kit.audio.mix as mix_mod

    sp = _wav(tmp_path / "speech" / "s.wav", 2)
    no = _wav(tmp_path / "noise" / "n.wav", 2, seed=3)
    real = mix_mod.sf.write
    calls = []

    def full_at_5(path, *a, **k):
        calls.append(path)
        if len(calls) == 5:
            raise sf.LibsndfileError(2, "")
        return real(path, *a, **k)

    monkeypatch.setattr(mix_mod.sf, "write", full_at_5)
    monkeypatch.setattr(mix_mod, "write_problem", lambda exc, p: "no space left on the device")
    out = tmp_path / "set"
    args = ["mix", "--speech", sp.parent, "--noise", no.parent, "-o", out, "--count", 3,
            "--seconds", 0.5]
    rc, err = _cli(capsys, *args)
    assert rc == 2 and err == f"rnnoise-kit: {out}: no space left on the device"
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["noise", "speech"]
    monkeypatch.setattr(mix_mod.sf, "write", real)
    rc, err = _cli(capsys, *args)
    assert rc == 0 and len(_files(out)) == 10


def _tiny_matrix(folder: Path) -> Path:
    from rnnoise_kit.training.matrix import MatrixWriter

    rng = np.random.default_rng(1)
    m = rng.standard_normal((400, 87)).astype(np.float32)
    m[:, 42:64] = rng.random((400, 22))
    m[:, 86] = rng.choice([0.0, 0.5, 1.0], 400)
    data = folder / "d.f32"
    with MatrixWriter(data, 400) as w:
        w.write(m)
    return data


def test_train_full_disk_keeps_the_run_resumable(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    import rnnoise_kit.training.trainer as tr
    from rnnoise_kit.model.checkpoint import read_checkpoint

    data = _tiny_matrix(tmp_path)
    run = tmp_path / "run"
    args = ["train", data, "-o", run, "--epochs", "2", "--batch-size", "2", "--window", "50",
            "--device", "cpu"]
    real = Path.write_bytes
    saves = []

    def full_at_epoch_2(path, data):  # the disk fills while epoch 2's state is written
        if path.name.startswith(".train_state.pt."):
            saves.append(path)
            if len(saves) == 2:
                real(path, data[:100])
                _enospc()
        return real(path, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_epoch_2)
    rc, err = _cli(capsys, *args)
    assert rc == 2 and err.endswith(f"{run / 'train_state.pt'}: no space left on the device")
    assert _files(run) == ["checkpoint.json", "checkpoint.npz", "metrics.csv", "train_state.pt"]
    assert read_checkpoint(run).epoch == 1
    assert tr.torch.load(run / "train_state.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(Path, "write_bytes", real)
    rc, err = _cli(capsys, *args, "--resume")
    assert rc == 0, err
    assert read_checkpoint(run).epoch == 2 and (run / "model.rnnn").is_file()


def test_train_and_features_on_real_read_only_and_full_disks(tmp_path, capsys):
    """Found by the sweep (tools/sweep_bad_inputs.py): `train -o RO/run` and `features -o
    RO/x.f32` on a read-only disk, `train -o FULL/run` on a full one (torch's zip writer
    reports it as a RuntimeError) and `train DATA -o DATA` were internal errors."""
    pytest.importorskip("torch")
    ro, full = tmp_path / "ro", tmp_path / "full"
    if not (_tmpfs(ro, "64k") and _tmpfs(full, "64k")):
        pytest.skip("cannot mount a tmpfs here")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        data = _tiny_matrix(tmp_path)
        small = ["--epochs", "1", "--batch-size", "2", "--window", "50", "--device", "cpu"]
        rc, err = _cli(capsys, "train", data, "-o", ro / "run", *small)
        assert (rc, err) == (2, f"rnnoise-kit: {ro / 'run'}: the file system is read-only")
        rc, err = _cli(capsys, "train", data, "-o", full / "run", *small)
        assert rc == 2
        assert err == f"rnnoise-kit: {full / 'run' / 'train_state.pt'}: no space left on the device"
        assert os.listdir(full / "run") == []  # nothing half-written
        rc, err = _cli(capsys, "train", data, "-o", data, *small)
        assert (rc, err) == (2, f"rnnoise-kit: {data}: is a file, not a folder; give the run "
                                "folder to write")
        sp, no = speech_and_noise(tmp_path)
        rc, err = _cli(capsys, "features", "--speech", sp, "--noise", no, "--frames", 100,
                       "-o", ro / "x.f32")
        assert (rc, err) == (2, f"rnnoise-kit: {ro / 'x.f32'}: the file system is read-only")
    finally:
        for m in (ro, full):
            subprocess.run(["umount", str(m)], capture_output=True)


# ----------------------------------------------------------------------------- signals


_SLOW_SAVE = """
import sys, time, numpy as np
def slow(fh, arr, *a, **k):
    fh.write(b"partial"); fh.flush()
    open({marker!r}, "w").close()
    time.sleep(60)
np.save = slow
from rnnoise_kit.cli import main
sys.exit(main({argv!r}))
"""


def _slow_dump_features(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    wav = _wav(tmp_path / "in.wav")
    out = tmp_path / "out" / "f.npy"
    marker = tmp_path / "writing"
    code = _SLOW_SAVE.format(marker=str(marker), argv=["dump-features", str(wav), "-o",
                                                       str(out)])
    p = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.05)
    return p, out, wav


def test_sigterm_exits_143_and_keeps_no_partial_output(tmp_path):
    p, out, _ = _slow_dump_features(tmp_path)
    assert len(os.listdir(out.parent)) == 1  # the hidden temporary file, half written
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143
    assert err.strip().splitlines()[-1] == "rnnoise-kit: terminated; no partial output was kept"
    assert os.listdir(out.parent) == []


def test_sigkill_leftover_is_removed_by_the_next_run(tmp_path, capsys):
    p, out, wav = _slow_dump_features(tmp_path)
    p.kill()
    p.communicate(timeout=60)
    assert p.returncode == -9
    left = os.listdir(out.parent)
    assert len(left) == 1 and left[0].startswith(".f.npy.") and not out.exists()
    assert main(["dump-features", str(wav), "-o", str(out)]) == 0
    assert os.listdir(out.parent) == ["f.npy"]


def test_features_resumes_from_completed_shards_after_sigterm_and_sigkill(tmp_path):
    from rnnoise_kit.training.generator import SHARD_ROWS

    sp, no = speech_and_noise(tmp_path)
    frames = 3 * SHARD_ROWS
    ref = tmp_path / "ref.f32"
    p = _run_cli(["features", "--speech", sp, "--noise", no, "--frames", frames, "-o", ref,
                  "--seed", 3])
    assert p.communicate(timeout=600) and p.returncode == 0
    out = tmp_path / "o" / "m.f32"
    state = out.parent / ".m.f32.resume.json"
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -9)):
        p = _run_cli(["features", "--speech", sp, "--noise", no, "--frames", frames,
                      "-o", out, "--seed", 3])
        deadline = time.monotonic() + 300
        while not (state.exists() and b'"rows_done": 0' not in state.read_bytes()):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.05)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == code, err
        assert not out.exists() and state.exists()
    p = _run_cli(["features", "--speech", sp, "--noise", no, "--frames", frames, "-o", out,
                  "--seed", 3])
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "resumed an interrupted run" in err
    assert out.read_bytes() == ref.read_bytes()
    assert os.listdir(out.parent) == ["m.f32"]
