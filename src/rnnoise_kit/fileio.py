"""Safe outputs: every file rnnoise-kit writes goes through this module.

* :func:`atomic_path` / :func:`atomic_paths`: write to hidden temporary names beside the
  targets, rename them all when complete, so an interrupted run (Ctrl-C, SIGTERM, a crash, a
  full disk) never leaves a half-written output under a final name, and a set of outputs
  (``rnn_data.c`` with its ``.h``, a ``.raw`` with its manifest) appears together or not at
  all.
* :func:`atomic_tree`: a folder of outputs built in a hidden staging folder beside it and
  moved in at the end (all or nothing).
* :func:`check_outputs`: an output that resolves (symbolic or hard links included) to one of
  the call's inputs or to another of its outputs is refused before any work.
* Failures on the output side (a read-only folder, a full disk, a parent that is a file, an
  output that is a folder) raise :class:`~rnnoise_kit.errors.OutputError` naming the user's
  path, never the temporary one.

Temporary names carry the writer's process id: ``.NAME.PID-XXXXXXXX.partSUFFIX``. A process
killed outright (SIGKILL, power loss) cannot remove its temporary files, so the next write of
the same target removes those whose process no longer runs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
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
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    pattern = _temp_pattern(target, suffix)
    removed = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
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
    renamed = 0
    try:
        for target, suffix in zip(paths, suffixes, strict=True):
            temps.append(_new_temp(target, suffix))
        yield list(temps)
        for tmp, target in zip(temps, paths, strict=True):
            os.replace(tmp, target)
            renamed += 1
    except BaseException as exc:
        for tmp in temps[renamed:]:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if not isinstance(exc, OSError) or not paths:
            raise
        # name the output whose temporary file the error names, else the first unfinished one
        failed = paths[min(renamed, len(paths) - 1)]
        for tmp, target in zip(temps, paths, strict=False):
            if os.fspath(tmp) in (exc.filename, exc.filename2):
                failed = target
        mapped = _as_output_error(exc, failed, temps + paths)
        if mapped is not exc:
            raise mapped from exc
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
def atomic_tree(target: str | os.PathLike, replace: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``target``; move what it holds into ``target``
    when the block succeeds (all or nothing), remove it when the block fails.

    A missing ``target`` is created by renaming the staging folder onto it. An existing one
    keeps its other files: the staged files are moved in one by one after checking that none
    of them exists there yet; if a move fails, those already moved are taken out again.
    A staging folder a killed run left beside ``target`` is removed by the next call.
    ``replace`` names files (relative paths) that may replace existing ones, such as a
    summary rewritten by each run.

    Raises
    ------
    OutputError
        ``target`` is a file, a staged file exists there already, or writing failed.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(target, "is a file, not a folder")
    make_parent(target)
    remove_stale_temps(target, "")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f"{_temp_stem(target)}{os.getpid()}-",
                                      suffix=_PART, dir=target.parent))
    except OSError as exc:
        raise OutputError(target, write_problem(exc, target)) from exc
    _plain_mode(stage, 0o777)
    try:
        try:
            yield stage
        except OSError as exc:
            mapped = _as_output_error(exc, target, [stage])
            if mapped is not exc:
                raise mapped from exc
            raise
        _move_tree(stage, target, {Path(r) for r in replace})
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _move_tree(stage: Path, target: Path, replace: set[Path]) -> None:
    if not target.exists():
        try:
            os.replace(stage, target)
        except OSError as exc:
            raise OutputError(target, write_problem(exc, target)) from exc
        return
    files = sorted(p for p in stage.rglob("*") if not p.is_dir())
    dests = [target / p.relative_to(stage) for p in files]
    taken = [d for d in dests if (d.exists() or d.is_symlink())
             and d.relative_to(target) not in replace]
    if taken:
        raise OutputError(taken[0], f"already exists ({len(taken)} output(s) taken); nothing "
                                    "was written: remove them or choose an empty folder")
    made: list[Path] = []
    moved: list[Path] = []
    try:
        for src, dest in zip(files, dests, strict=True):
            missing = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
            for d in reversed(missing):
                d.mkdir()
                made.append(d)
            os.replace(src, dest)
            moved.append(dest)
    except BaseException as exc:
        for dest in moved:
            with contextlib.suppress(OSError):
                dest.unlink()
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            raise OutputError(target, write_problem(exc, target)) from exc
        raise


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
