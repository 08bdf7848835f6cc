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
    install_tree,
    remove_stale_temps,
    staging_folder,
)

SRC = str(Path(__file__).parents[1] / "src")


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


# ----------------------------------------------------------------------------- the last renames


def _killed_at_rename(k: int, body: str, expect: int = -9) -> None:
    """Run ``body`` in a child whose ``k``-th ``os.replace`` (1-based) kills it with SIGKILL
    first: a kill landing between two renames of a set's last step (``expect``: the child's
    return code, 0 when it makes fewer renames)."""
    code = ("import os, signal\nfrom pathlib import Path\n_real, _n = os.replace, [0]\n"
            "def _replace(a, b):\n"
            "    _n[0] += 1\n"
            f"    if _n[0] == {k}:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return _real(a, b)\n"
            "os.replace = _replace\n" + body)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC})
    assert r.returncode == expect


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_a_signal_between_two_renames_still_completes_the_set(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM landing right after the first rename of ``rnn_data.c`` + ``.h``
    left the new ``.c`` beside the previous ``.h`` (the rest of the temporary files were
    removed); the renames now finish first, then the signal ends the command."""
    import rnnoise_kit.fileio as fileio

    c, h = tmp_path / "a.c", tmp_path / "a.h"
    c.write_text("old c")
    h.write_text("old h")
    real, calls = os.replace, []

    def replace_then_signal(a, b):
        real(a, b)
        calls.append(b)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", replace_then_signal)
    with pytest.raises(KeyboardInterrupt), atomic_paths([c, h]) as (tc, th):
        tc.write_text("new c")
        th.write_text("new h")
    assert (c.read_text(), h.read_text()) == ("new c", "new h")
    assert _hidden(tmp_path) == []


def test_atomic_tree_into_an_empty_folder_is_one_rename(tmp_path):
    """``mix -o EMPTY_DIR`` moved its files in one by one: a SIGKILL between two moves left
    part of the set, and the rerun refused the folder as not empty."""
    out = tmp_path / "set"
    out.mkdir()
    _killed_at_rename(2, f"""
from rnnoise_kit.fileio import atomic_tree
with atomic_tree({str(out)!r}) as stage:
    for name in ("clean", "noisy"):
        (stage / name).mkdir()
        (stage / name / "a.wav").write_text(name)
    (stage / "mix.csv").write_text("csv")
""", expect=0)  # one rename: the kill on the second never comes
    assert sorted(_tree(out)) == ["clean/a.wav", "mix.csv", "noisy/a.wav"]


def test_a_killed_merge_into_a_folder_is_undone_by_the_next_call(tmp_path):
    """``balance`` into a folder that holds files moves its outputs in one by one; a SIGKILL
    between two moves left part of them, and the rerun refused them as existing."""
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "x.wav").write_text("x")
    (out / "balance.csv").write_text("old csv")
    before = _tree(out)
    body = f"""
from rnnoise_kit.fileio import atomic_tree
with atomic_tree({str(out)!r}, replace=["balance.csv"]) as stage:
    for g in ("a", "b"):
        (stage / g / "sub").mkdir(parents=True)
        (stage / g / "sub" / "f.wav").write_text(g)
    (stage / "balance.csv").write_text("new csv")
"""
    for k in (2, 3, 4):  # after the replaced csv is set aside / after one file / after two
        _killed_at_rename(k, body)
        assert _tree(out) != before or k == 2
        remove_stale_temps(out, "")
        assert _tree(out) == before and sorted(os.listdir(out)) == ["balance.csv", "old"]
        assert _hidden(tmp_path) == []
    with atomic_tree(out, replace=["balance.csv"]) as stage:
        (stage / "a").mkdir()
        (stage / "a" / "f.wav").write_text("a")
        (stage / "balance.csv").write_text("new csv")
    assert _tree(out) == {"a/f.wav": "a", "balance.csv": "new csv", "old/x.wav": "x"}


_PLACEHOLDER = b"incomplete"


def _install(out: Path, files: dict[str, str]) -> None:
    with staging_folder(out) as stage:
        for rel, text in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_text(text)
        install_tree(stage, out, ["audio", "data.csv", "index.html"], "index.html",
                     _PLACEHOLDER)


def test_install_tree_swaps_a_whole_set_and_marks_an_interrupted_swap(tmp_path):
    out = tmp_path / "report"
    old = {"audio/1.flac": "a1", "audio/2.flac": "a2", "data.csv": "d1", "index.html": "i1"}
    new = {"audio/1.flac": "b1", "index.html": "i2"}
    _install(out, old)  # a missing folder: one rename
    assert _tree(out) == old and _hidden(tmp_path) == []
    (out / "user.txt").write_text("mine")
    _install(out, new)  # entries the new set lacks go; other files stay
    assert _tree(out) == {**new, "user.txt": "mine"} and _hidden(tmp_path) == []
    _install(out, old)
    body = (f"from rnnoise_kit.fileio import staging_folder, install_tree\n"
            f"from pathlib import Path\nout = Path({str(out)!r})\n"
            "with staging_folder(out) as stage:\n"
            "    (stage / 'audio').mkdir()\n"
            "    (stage / 'audio' / '1.flac').write_text('b1')\n"
            "    (stage / 'index.html').write_text('i2')\n"
            "    install_tree(stage, out, ['audio', 'data.csv', 'index.html'], 'index.html', "
            f"{_PLACEHOLDER!r})\n")
    for k in range(1, 6):
        _killed_at_rename(k, body)
        tree = _tree(out)
        # either the old set whole, or the placeholder marks an unfinished swap
        assert tree == {**old, "user.txt": "mine"} or tree["index.html"] == "incomplete", tree
        _install(out, old)
        assert _tree(out) == {**old, "user.txt": "mine"} and _hidden(tmp_path) == []


def test_a_folder_under_a_file_is_named_as_the_user_gave_it(tmp_path, monkeypatch):
    """The sweep found ``balance ROOT -o a_file/b`` naming /abs/path/a_file/b."""
    monkeypatch.chdir(tmp_path)
    Path("a_file").write_text("x")
    with pytest.raises(OutputError) as info, atomic_tree(Path("a_file/b")):
        pass
    assert str(info.value) == "a_file/b: a parent of it is a file, not a folder"
