"""The shared output mechanism (``rnnoise_kit.fileio``): collisions, all-or-nothing sets and
folders, errors naming the user's path, and temporary files a killed writer leaves."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnoise_kit.errors import OutputError
from rnnoise_kit.fileio import (
    atomic_path,
    atomic_paths,
    atomic_tree,
    check_outputs,
    remove_stale_temps,
)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_check_outputs_sees_through_links(tmp_path):
    a = tmp_path / "a.wav"
    a.write_bytes(b"x")
    (tmp_path / "sym.wav").symlink_to(a)
    os.link(a, tmp_path / "hard.wav")
    for out in (a, tmp_path / "sym.wav", tmp_path / "hard.wav", tmp_path / "." / "a.wav"):
        with pytest.raises(OutputError, match="would overwrite"):
            check_outputs([out], [a])
    with pytest.raises(OutputError, match="same file as another output"):
        check_outputs([tmp_path / "new.raw", tmp_path / "sub" / ".." / "new.raw"])
    check_outputs([tmp_path / "b.wav"], [a, tmp_path])  # a folder input is not a collision


def test_atomic_paths_all_or_nothing(tmp_path):
    a, b = tmp_path / "m.c", tmp_path / "m.h"
    with pytest.raises(RuntimeError), atomic_paths([a, b]) as (ta, tb):
        ta.write_text("c")
        tb.write_text("h")
        raise RuntimeError("after both were written")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths([a, b]) as (ta, tb):
        ta.write_text("c")
        tb.write_text("h")
        assert not a.exists() and not b.exists()  # nothing visible before the end
    assert a.read_text() == "c" and b.read_text() == "h"
    assert _hidden(tmp_path) == []


def test_full_disk_names_the_users_path_not_the_temp(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(OutputError) as ei, atomic_path(target) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert str(ei.value) == f"{target}: no space left on the device"
    assert ".part" not in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_input_side_errors_are_not_disguised(tmp_path):
    with pytest.raises(PermissionError), atomic_path(tmp_path / "o.raw"):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "in.wav"))


def test_output_that_is_a_folder_or_under_a_file(tmp_path):
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(OutputError, match="is a folder"), atomic_path(tmp_path / "dir.npy"):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="parent of it is a file"), \
            atomic_path(tmp_path / "file" / "o.npy"):
        pass


def test_read_only_file_system(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    # root ignores file modes, so a read-only mount is the only honest test (CI runs as root)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        with pytest.raises(OutputError, match="read-only") as ei, atomic_path(ro / "o.wav"):
            pass
        assert str(ei.value).startswith(str(ro / "o.wav"))
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_stale_temp_of_a_dead_writer_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "x.npy"
    dead = tmp_path / f".x.npy.{_dead_pid()}-abc123.part.npy"
    alive = tmp_path / f".x.npy.{os.getppid()}-abc123.part.npy"  # the test runner's parent
    other = tmp_path / ".y.npy.1-abc123.part.npy"
    for p in (dead, alive, other):
        p.write_bytes(b"half")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists() and alive.exists() and other.exists()


def test_killed_writer_leaves_a_temp_the_next_run_removes(tmp_path):
    target = tmp_path / "k.raw"
    code = ("import os, signal, sys; from rnnoise_kit.fileio import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_bytes(b'half'); os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    r = subprocess.run([sys.executable, "-c", code], env=env)
    assert r.returncode == -9
    assert not target.exists() and len(_hidden(tmp_path)) == 1
    remove_stale_temps(target)
    assert _hidden(tmp_path) == []


def test_atomic_tree_new_folder_and_merge(tmp_path):
    out = tmp_path / "set"
    with atomic_tree(out) as stage:
        (stage / "clean").mkdir()
        (stage / "clean" / "a.wav").write_text("a")
        assert not out.exists()
    assert (out / "clean" / "a.wav").read_text() == "a"
    (out / "keep.txt").write_text("user's")
    with atomic_tree(out) as stage:
        (stage / "noisy").mkdir()
        (stage / "noisy" / "b.wav").write_text("b")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "clean/a.wav", "keep.txt", "noisy/b.wav"]
    assert _hidden(tmp_path) == []


def test_atomic_tree_failure_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "set"
    with pytest.raises(OutputError, match="no space"), atomic_tree(out) as stage:
        (stage / "clean").mkdir()
        (stage / "clean" / "a.wav").write_text("a")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "x.wav").write_text("old")
    with pytest.raises(OutputError, match="already exists"), atomic_tree(out) as stage:
        (stage / "new.wav").write_text("n")
        (stage / "x.wav").write_text("x")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["set", "x.wav"]
    assert (out / "x.wav").read_text() == "old"


def test_atomic_tree_removes_a_killed_runs_staging(tmp_path):
    stale = tmp_path / f".set.{_dead_pid()}-zz9.part"
    (stale / "clean").mkdir(parents=True)
    (stale / "clean" / "half.wav").write_text("h")
    with atomic_tree(tmp_path / "set") as stage:
        (stage / "a").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_free_space_check_names_the_size(tmp_path):
    from rnnoise_kit.capacity import check_disk

    check_disk(tmp_path / "small.f32", 1, "1 byte")
    with pytest.raises(OutputError, match=r"1 PiB would take 1\.0 PiB, more than the .* free"):
        check_disk(tmp_path / "sub" / "huge.f32", 1 << 50, "huge: 1 PiB")
