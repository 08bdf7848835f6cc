"""Safe outputs: every file rnnoise-kit writes goes through this module.

* :func:`atomic_path` / :func:`atomic_paths`: write to hidden temporary names beside the
  targets, rename them all when complete, so an interrupted run (Ctrl-C, SIGTERM, a crash, a
  full disk) never leaves a half-written output under a final name, and a set of outputs
  (``rnn_data.c`` with its ``.h``, a ``.raw`` with its manifest) appears together or not at
  all.
* :func:`atomic_tree`: a folder of outputs built in a hidden staging folder beside it and
  moved in at the end (all or nothing).
* :func:`staging_folder` + :func:`install_tree`: a folder that a command rebuilds as a whole
  (a ``compare`` report, the demo data) made beside its target and swapped in, with a
  placeholder marking a swap a kill interrupted.
* :func:`check_outputs`: an output that resolves (symbolic or hard links included) to one of
  the call's inputs or to another of its outputs is refused before any work.
* Failures on the output side (a read-only folder, a full disk, a parent that is a file, an
  output that is a folder) raise :class:`~rnnoise_kit.errors.OutputError` naming the user's
  path, never the temporary one.

Temporary names carry the writer's process id: ``.NAME.PID-XXXXXXXX.partSUFFIX``. A process
killed outright (SIGKILL, power loss) cannot remove its temporary files, so the next write of
the same target removes those whose process no longer runs.

The last step of a multi-file output is a series of renames. A signal (Ctrl-C, SIGTERM)
arriving between two of them does not stop the series: every file is complete by then, so the
set is finished and the signal then ends the command. Only SIGKILL or a power loss can fall
between two renames (a window of microseconds, no data written in it); what is left then:

* :func:`atomic_paths` (``rnn_data.c`` + ``.h``, a ``.raw`` + its manifest, a checkpoint and
  its training state): the files renamed so far are new, the others keep their previous
  content (or are missing); the temporary files of the rest stay hidden and the next write
  removes them. Every command writing such a set rewrites all of it when run again, so the
  rerun repairs it (and ``train`` renames its state first, so the run still resumes).
* :func:`atomic_tree` into a folder that already holds files: a journal in the staging folder
  lists the moves; the next call for the same folder takes the moved files out again (and
  puts back a file they replaced), so the killed call did nothing.
* :func:`install_tree`: the placeholder stays in place of the set's last entry, telling the
  next run that the folder is its own and incomplete.

Temporary files of the naming scheme before the process-id tag (``.NAME.XXXXXXXXSUFFIX``,
rnnoise-kit 0.1.0 development builds before 2026-12-01) are left alone: nothing in those names
tells whether their writer still runs (an older copy of the tool may be writing the same
target right now), and a hidden file a few bytes to a few MB large costs less than an output
deleted under a running writer.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from rnnoise_kit import capacity
from rnnoise_kit.errors import OutputError

_PART = ".part"
_NAME_KEEP = 120  # characters of the target's name kept in its temporary name

_ERRNO_PROBLEMS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (the folder is not writable)",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a parent of it is a file, not a folder",
    errno.EEXIST: "a parent of it is a file, not a folder",
    errno.EISDIR: "is a folder; give a file name",
    errno.EFBIG: "too large for the file system",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTEMPTY: "exists and is not an empty folder",
    errno.EXDEV: "cannot be moved into place across file systems",
    errno.EIO: "input/output error on the device",
}
_ALWAYS_OUTPUT_SIDE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
"""Errors that only writing can cause, whichever path the OS names."""


# --------------------------------------------------------------------------- checks


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: through symbolic or hard links, or (for paths
    that do not exist yet) the same resolved location."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(
    outputs: Iterable[str | os.PathLike | None],
    inputs: Iterable[str | os.PathLike | None] = (),
) -> None:
    """Refuse outputs that would replace an input or each other.

    Parameters
    ----------
    outputs : iterable of path-like or None
        The files a call will write (``None`` entries are ignored).
    inputs : iterable of path-like or None
        The files it reads. Folders are fine: only a file named as both is refused.

    Raises
    ------
    OutputError
        Naming the output and the file it collides with.
    """
    outs = [Path(o) for o in outputs if o is not None]
    ins = [Path(i) for i in inputs if i is not None]
    for k, out in enumerate(outs):
        for src in ins:
            if src.is_dir():
                continue
            if same_file(out, src):
                what = "its input" if str(out) == str(src) else f"the input {src}"
                raise OutputError(out, f"would overwrite {what}; choose another output")
        for other in outs[:k]:
            if same_file(out, other):
                raise OutputError(out, f"is the same file as another output ({other}); "
                                       "give each output its own name")


def check_suffix(path: str | os.PathLike, allowed: Sequence[str], content: str) -> None:
    """Refuse an output whose suffix does not say what is written.

    Parameters
    ----------
    path : path-like
    allowed : sequence of str
        Suffixes, lower case with the dot (``(".npy",)``).
    content : str
        What is written, for the message (``"a NumPy array"``).
    """
    if Path(path).suffix.lower() not in allowed:
        raise OutputError(path, f"the output is {content}: its name must end in "
                                f"{' or '.join(allowed)}")


# --------------------------------------------------------------------------- errors


def write_problem(exc: BaseException, target: str | os.PathLike) -> str:
    """A few words on why writing ``target`` failed (errno when there is one, else the free
    space: libsndfile and NumPy report a full disk without errno)."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in _ERRNO_PROBLEMS:
        return _ERRNO_PROBLEMS[code]
    if isinstance(code, int) and code > 0:
        return os.strerror(code).lower()
    try:
        if capacity.free_disk(target) < (1 << 20):
            return "no space left on the device"
    except OSError:
        pass
    text = str(exc).strip().splitlines()
    return f"could not write it ({text[-1] if text else type(exc).__name__})"


def is_output_side(exc: OSError, paths: Iterable[str | os.PathLike]) -> bool:
    """Whether an OSError raised while writing comes from the output (not from an input
    read at the same time): an error only writes cause, or one naming an output path."""
    if exc.errno in _ALWAYS_OUTPUT_SIDE:
        return True
    if exc.errno is None and type(exc) is OSError:  # NumPy's short write: "n requested and
        return True  # m written"; subclasses without errno (URLError, ...) are not writes
    named = {os.fspath(p) for p in paths}
    return any(f is not None and os.fspath(f) in named for f in (exc.filename, exc.filename2))


def _as_output_error(exc: BaseException, target: Path, paths: Iterable[Path]) -> BaseException:
    if isinstance(exc, OSError) and is_output_side(exc, [target, *paths]):
        err = OutputError(target, write_problem(exc, target))
        err.__cause__ = exc
        return err
    return exc


# --------------------------------------------------------------------------- temporary names


def _located(target: str | os.PathLike) -> Path:
    """``target`` made absolute, so that ``.`` and ``..`` have a name and a parent."""
    return Path(os.path.abspath(target))


def _temp_stem(target: Path) -> str:
    return f".{target.name[:_NAME_KEEP]}."


def _temp_pattern(target: Path, suffix: str) -> re.Pattern:
    return re.compile(re.escape(_temp_stem(target)) + r"(\d+)-[A-Za-z0-9_]+"
                      + re.escape(_PART + suffix) + "$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Remove the temporary files (or staging folders) that killed writers of ``target`` left
    beside it; those of running processes are kept. Returns what was removed."""
    target = _located(target)
    suffix = target.suffix if suffix is None else suffix
    pattern = _temp_pattern(target, suffix)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                _undo_moves(path, target)
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def make_parent(target: Path) -> None:
    """Create the folder ``target`` goes into (OutputError naming ``target`` if impossible)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(target, write_problem(exc, target)) from exc


def _plain_mode(path: Path, mode: int) -> None:
    # mkstemp/mkdtemp create 0600/0700; give the output the mode a plain open()/mkdir() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _new_temp(target: Path, suffix: str | None) -> Path:
    if target.is_dir():
        raise OutputError(target, _ERRNO_PROBLEMS[errno.EISDIR])
    make_parent(target)
    suffix = target.suffix if suffix is None else suffix
    remove_stale_temps(target, suffix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_stem(target)}{os.getpid()}-",
                                   suffix=_PART + suffix, dir=target.parent)
    except OSError as exc:
        raise OutputError(target, write_problem(exc, target)) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    _plain_mode(tmp_path, 0o666)
    return tmp_path


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_paths(
    targets: Sequence[str | os.PathLike],
    inputs: Iterable[str | os.PathLike | None] = (),
    suffixes: Sequence[str | None] | None = None,
) -> Iterator[list[Path]]:
    """Yield a temporary path beside each target; rename them all onto the targets when the
    block succeeds, remove them all when it fails.

    The temporary files keep their targets' suffixes (or ``suffixes``), so libraries that
    pick a format by extension still work. Nothing is renamed until every file is complete,
    so a set of outputs appears together. Targets are checked first with
    :func:`check_outputs`.

    Raises
    ------
    OutputError
        A target that is a folder, collides with an input or another target, or cannot be
        written (the message names the target, not the temporary file).
    """
    paths = [Path(t) for t in targets]
    check_outputs(paths, inputs)
    suffixes = list(suffixes) if suffixes is not None else [None] * len(paths)
    temps: list[Path] = []
    try:
        for target, suffix in zip(paths, suffixes, strict=True):
            temps.append(_new_temp(target, suffix))
        yield list(temps)
        _rename_all(list(zip(temps, paths, strict=True)))
    except BaseException as exc:
        unfinished = [k for k, tmp in enumerate(temps) if os.path.lexists(tmp)]
        for k in unfinished:
            with contextlib.suppress(OSError):
                temps[k].unlink()
        if not isinstance(exc, OSError) or not paths:
            raise
        # name the output whose temporary file the error names, else the first unfinished one
        failed = paths[min(unfinished[0] if unfinished else 0, len(paths) - 1)]
        for tmp, target in zip(temps, paths, strict=False):
            if os.fspath(tmp) in (exc.filename, exc.filename2):
                failed = target
        mapped = _as_output_error(exc, failed, temps + paths)
        if mapped is not exc:
            raise mapped from exc
        raise


def _rename_all(moves: Sequence[tuple[Path, Path]]) -> None:
    """``os.replace`` each pair in order. A signal arriving between two renames (raised as
    KeyboardInterrupt) does not stop the rest: the files are complete by then, and stopping
    would leave part of a set; the signal is raised again once all are in place."""
    done = 0
    try:
        for src, dest in moves:
            os.replace(src, dest)
            done += 1
    except Exception:
        raise
    except BaseException:
        for src, dest in moves[done:]:
            with contextlib.suppress(OSError):  # the one under way may have completed
                os.replace(src, dest)
        raise


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike,
    suffix: str | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary file keeps the target's suffix (or ``suffix``), so libraries that pick a
    format by extension still work. On any exception, KeyboardInterrupt included, it is
    removed; an OSError from writing becomes an :class:`OutputError` naming ``target``.
    ``inputs`` are checked with :func:`check_outputs`.
    """
    with atomic_paths([target], inputs, [suffix]) as (tmp,):
        yield tmp


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


# --------------------------------------------------------------------------- folders


@contextlib.contextmanager
def staging_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a new, empty hidden folder beside ``target`` (``.NAME.PID-XXXXXXXX.part``);
    it is removed, with whatever it still holds, when the block ends. Those that killed runs
    left beside ``target`` are removed first.

    Raises
    ------
    OutputError
        ``target`` is a file, or its folder cannot be written; an OutputError or a write
        failure (OSError) in the block naming a file in the staging folder is raised again
        naming the same place under ``target``.
    """
    if Path(target).exists() and not Path(target).is_dir():
        raise OutputError(target, "is a file, not a folder")
    make_parent(Path(target))  # errors name the user's path
    place = _located(target)
    remove_stale_temps(place, "")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f"{_temp_stem(place)}{os.getpid()}-",
                                      suffix=_PART, dir=place.parent))
    except OSError as exc:
        raise OutputError(target, write_problem(exc, target)) from exc
    _plain_mode(stage, 0o777)
    try:
        yield stage
    except OutputError as exc:  # name the user's path, never the hidden one
        if exc.path is None or not _is_under(exc.path, stage):
            raise
        inside = Path(target) / os.path.relpath(exc.path, stage)
        raise OutputError(inside, exc.problem) from exc
    except OSError as exc:
        mapped = _as_output_error(exc, Path(target), [stage])
        if mapped is not exc:
            raise mapped from exc
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _is_under(path: str | os.PathLike, folder: Path) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)


def _replaceable_by_rename(target: Path) -> bool:
    """Whether the staging folder can simply be renamed onto ``target``: it is missing, or
    an empty folder other than the working directory (rename(2) replaces an empty folder)."""
    if not os.path.lexists(target):
        return True
    try:
        return (target.is_dir() and not target.is_symlink() and not any(target.iterdir())
                and not os.path.samefile(target, "."))
    except OSError:
        return False


def install_tree(stage: Path, target: str | os.PathLike, entries: Sequence[str], last: str,
                 placeholder: bytes) -> None:
    """Put the folder built in ``stage`` (from :func:`staging_folder` for ``target``) in
    place of ``target``'s previous content.

    A missing or empty ``target``: one rename, all or nothing. Otherwise only the set's
    top-level ``entries`` are replaced (those ``stage`` lacks are removed; other files of
    ``target`` stay): first ``last`` is replaced by ``placeholder``, then the other entries
    one by one, and the new ``last`` goes in at the end. A complete set is thus one whose
    ``last`` is not the placeholder; a run killed in between leaves the placeholder, which
    tells the next run that the folder is its own and incomplete.

    Raises
    ------
    OutputError
        Naming ``target`` when a rename fails.
    """
    target = Path(target)
    place = _located(target)
    try:
        if _replaceable_by_rename(place):
            os.replace(stage, place)
            return
        with staging_folder(target) as old:
            atomic_write_bytes(place / last, placeholder)
            moves = [(place / name, old / name) for name in entries
                     if name != last and os.path.lexists(place / name)]
            moves += [(stage / name, place / name) for name in entries
                      if name != last and os.path.lexists(stage / name)]
            _rename_all([*moves, (stage / last, place / last)])
    except OSError as exc:
        raise OutputError(target, write_problem(exc, target)) from exc


@contextlib.contextmanager
def atomic_tree(target: str | os.PathLike, replace: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``target``; move what it holds into ``target``
    when the block succeeds (all or nothing), remove it when the block fails.

    A missing (or empty) ``target`` is replaced by the staging folder in one rename. An
    existing one keeps its other files: the staged files are moved in one by one after
    checking that none of them exists there yet; if a move fails, those already moved are
    taken out again, and a journal lets the next call do the same after a SIGKILL.
    A staging folder a killed run left beside ``target`` is removed by the next call.
    ``replace`` names files (relative paths) that may replace existing ones, such as a
    summary rewritten by each run.

    Raises
    ------
    OutputError
        ``target`` is a file, a staged file exists there already, or writing failed.
    """
    target = Path(target)
    with staging_folder(target) as stage:
        yield stage
        _move_tree(stage, target, {Path(r) for r in replace})


_JOURNAL = ".moves.json"
"""In a staging folder whose files are being moved into an existing folder: what the moves
change (files moved in, files they replace, folders made), to undo them after a kill."""
_REPLACED = ".replaced"
"""In a staging folder: the files of the target that the moved ones replace, kept until the
moves are done."""


def _move_tree(stage: Path, target: Path, replace: set[Path]) -> None:
    if _replaceable_by_rename(_located(target)):
        try:
            os.replace(stage, _located(target))
        except OSError as exc:
            raise OutputError(target, write_problem(exc, target)) from exc
        return
    rels = sorted(p.relative_to(stage) for p in stage.rglob("*") if not p.is_dir())
    taken = [target / r for r in rels if os.path.lexists(target / r) and r not in replace]
    if taken:
        raise OutputError(taken[0], f"already exists ({len(taken)} output(s) taken); nothing "
                                    "was written: remove them or choose an empty folder")
    dirs = sorted({d for r in rels for d in r.parents
                   if str(d) != "." and not (target / d).exists()}, key=lambda d: len(d.parts))
    journal = {"files": [r.as_posix() for r in rels],
               "replaced": [r.as_posix() for r in rels if os.path.lexists(target / r)],
               "dirs": [d.as_posix() for d in dirs]}
    try:
        (stage / _JOURNAL).write_text(json.dumps(journal), encoding="utf-8")
        for rel in map(Path, journal["replaced"]):
            (stage / _REPLACED / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(target / rel, stage / _REPLACED / rel)
        for d in dirs:
            (target / d).mkdir()
        _rename_all([(stage / r, target / r) for r in rels])
        (stage / _JOURNAL).unlink()  # the moves are done: from here on, nothing is undone
    except BaseException as exc:
        _undo_moves(stage, target)
        if isinstance(exc, OSError):
            raise OutputError(target, write_problem(exc, target)) from exc
        raise


def _undo_moves(stage: Path, target: Path) -> None:
    """Take out of ``target`` what a staging folder's journal says was moved in (files no
    longer in the staging folder), put back the files they replaced, remove the folders
    made; nothing without a journal."""
    try:
        journal = json.loads((stage / _JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for rel in journal.get("files", []):
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue  # not a journal this module wrote
        if not os.path.lexists(stage / rel):
            with contextlib.suppress(OSError):
                (target / rel).unlink()
    for rel in journal.get("replaced", []):
        if os.path.lexists(stage / _REPLACED / rel) and ".." not in Path(rel).parts:
            with contextlib.suppress(OSError):
                os.replace(stage / _REPLACED / rel, target / rel)
    for rel in reversed(journal.get("dirs", [])):
        if ".." not in Path(rel).parts:
            with contextlib.suppress(OSError):
                (target / rel).rmdir()
    with contextlib.suppress(OSError):
        (stage / _JOURNAL).unlink()


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
