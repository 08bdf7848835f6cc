"""Find audio files under folders, in natural-sort order, and report the ones to skip.

Rules shared by every command that reads folders (``prepare``, ``balance``, ``mix``, the
training-matrix generator, ``compare``, ``pipeline`` and ``demo``):

* a source is a file or a folder; folders are scanned recursively (:func:`walk_source`,
  the one folder walk every command uses);
* a link to a folder is followed only when it leads inside the source folder, to a folder
  not scanned already: links that loop or lead out of the source are left out and listed;
* a file in a folder counts as audio when its suffix is in
  :data:`~rnnoise_kit.audio.io.AUDIO_EXTENSIONS` or is a format soundfile reads; files
  and folders whose name starts with ``.`` (hidden files, rnnoise-kit's own temporary
  files) are ignored; a file named explicitly is always taken;
* within a folder, files come in natural-sort order of their path relative to that folder
  (``a/2.wav`` before ``a/10.wav``, case-insensitive); several sources keep the order in
  which they were given, and a file reached twice is taken once;
* files that cannot be used (unreadable, empty), links not followed and folders that cannot
  be listed are *skipped*, each with a one-line reason, never fatal by themselves: nothing
  is left out silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnoise_kit.audio.io import AUDIO_EXTENSIONS, audio_info, read_mono_48k
from rnnoise_kit.errors import InputError

SCAN_EXTENSIONS = frozenset(
    AUDIO_EXTENSIONS | {f".{fmt.lower()}" for fmt in sf.available_formats()}
)
"""Suffixes that count as audio in a folder scan."""

_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class SkippedFile:
    """A file a command left out, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def natural_key(path: str | os.PathLike) -> tuple:
    """Sort key that orders digit runs by value: ``a2`` < ``a10``, case-insensitive.

    Parameters
    ----------
    path : path-like
        Compared part by part, so ``a/b`` sorts with the files of folder ``a``.

    Returns
    -------
    tuple
        A key for :func:`sorted`.
    """
    parts = Path(path).parts
    key = []
    for part in parts:
        pieces = _DIGITS.split(part.casefold())
        key.append(
            tuple((0, int(p), p) if i % 2 else (1, 0, p) for i, p in enumerate(pieces) if p)
        )
    return tuple(key)


def is_audio_name(path: str | os.PathLike) -> bool:
    """Whether a folder scan takes this file (audio suffix, not hidden)."""
    p = Path(path)
    return not p.name.startswith(".") and p.suffix.lower() in SCAN_EXTENSIONS


def walk_source(src: str | os.PathLike) -> tuple[list[Path], list[SkippedFile]]:
    """The audio files of one source, in natural-sort order, and the folders left out.

    The one folder walk of rnnoise-kit (every command scans through it). Links to folders
    are followed only into the source folder itself and only to a folder not scanned
    already, so a link can neither loop (``loop -> ..`` or ``-> .``) nor pull files from
    beside the source; the links left out, and folders that cannot be listed, come back
    as skipped with the reason. Real folders are walked before links, so a file reached
    both ways keeps its real path.

    Parameters
    ----------
    src : path-like
        An audio file (returned as is, whatever its suffix) or a folder (scanned
        recursively).

    Returns
    -------
    files : list of Path
        Audio files by suffix (not probed), natural-sort order of their path relative to
        ``src``.
    skipped : list of SkippedFile
        Links not followed and folders that could not be listed, with reasons.

    Raises
    ------
    InputError
        ``src`` does not exist.
    """
    src = Path(src)
    if src.is_file():
        return [src], []
    if not src.is_dir():
        raise InputError(src, "no such file or folder")
    root = Path(os.path.realpath(src))
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    scanned: set[tuple[int, int]] = set()
    links: list[Path] = []

    def scan(top: Path) -> None:
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                skipped.append(SkippedFile(folder, f"cannot list folder ({_os_reason(exc)})"))
                continue
            if (st.st_dev, st.st_ino) in scanned:  # inside two link targets: its files once
                continue
            scanned.add((st.st_dev, st.st_ino))
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    (links if entry.is_symlink() else stack).append(path)
                elif is_audio_name(entry.name):
                    files.append(path)

    scan(src)
    while links:  # in path order, so that the choice between two links is the same each run
        links.sort(key=natural_key, reverse=True)
        link = links.pop()  # following it may find further links
        target = Path(os.path.realpath(link))
        if not target.is_relative_to(root):
            skipped.append(SkippedFile(link, f"link to a folder outside {src} ({target}); "
                                             "not followed"))
            continue
        try:
            st = os.stat(link)
        except OSError as exc:
            skipped.append(SkippedFile(link, f"cannot follow link ({_os_reason(exc)})"))
            continue
        if (st.st_dev, st.st_ino) in scanned:
            parent = Path(os.path.realpath(link.parent))
            why = ("loops back to" if parent.is_relative_to(target)
                   else "leads to a folder scanned already,")
            skipped.append(SkippedFile(link, f"link {why} {target}; not followed"))
            continue
        scan(link)
    files.sort(key=lambda p: natural_key(p.relative_to(src)))
    return files, skipped


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def iter_source_files(
    src: str | os.PathLike, *, skipped: list[SkippedFile] | None = None
) -> Iterator[Path]:
    """Yield the audio files of one source, in natural-sort order (see :func:`walk_source`).

    Parameters
    ----------
    src : path-like
        An audio file (yielded as is, whatever its suffix) or a folder (scanned recursively).
    skipped : list of SkippedFile, optional
        Links not followed and folders that cannot be listed are appended here.

    Yields
    ------
    Path

    Raises
    ------
    InputError
        ``src`` does not exist.
    """
    files, left_out = walk_source(src)
    if skipped is not None:
        skipped.extend(left_out)
    yield from files


def _probe(path: Path) -> str | None:
    """Reason to skip ``path`` from its header alone, or None when it looks usable."""
    try:
        info = audio_info(path)
    except InputError as exc:
        return exc.problem
    if info.frames <= 0 and path.suffix.lower() != ".mp3":
        return "contains no samples"
    return None


def scan_audio(
    paths: Iterable[str | os.PathLike],
    *,
    probe: bool = True,
    exclude: Iterable[str | os.PathLike] = (),
) -> tuple[list[Path], list[SkippedFile]]:
    """List the audio files of several sources, in order, and those to skip.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders (see the module rules).
    probe : bool
        Read each file's header and skip the unreadable or empty ones. Without it, every
        file with an audio suffix is returned and ``skipped`` lists only what the folder
        walk left out (links not followed, folders that cannot be listed).
    exclude : iterable of path-like
        Files never to take (a command's own outputs when they lie inside a source).

    Returns
    -------
    files : list of Path
        Usable files, in natural-sort order per source, sources in the order given.
    skipped : list of SkippedFile
        Files left out, with reasons.

    Raises
    ------
    InputError
        A source does not exist.
    """
    excluded = {_resolved(p) for p in exclude}
    seen: set[Path] = set()
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    for src in paths:
        found, left_out = walk_source(src)
        skipped.extend(left_out)
        for path in found:
            key = _resolved(path)
            if key in seen or key in excluded:
                continue
            seen.add(key)
            reason = _probe(path) if probe else None
            if reason is None:
                files.append(path)
            else:
                skipped.append(SkippedFile(path, reason))
    return files, skipped


def _resolved(path: str | os.PathLike) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(os.path.abspath(path))


def iter_audio_48k(
    paths: Iterable[str | os.PathLike],
    *,
    skipped: list[SkippedFile] | None = None,
) -> Iterator[tuple[Path, np.ndarray]]:
    """Stream the sources' audio, file by file, as the DSP wants it.

    Files come in the order of :func:`scan_audio`; each is mixed to mono, resampled to
    48 kHz (soxr) and returned as float32 in int16 scale (see :func:`read_mono_48k`).

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders.
    skipped : list of SkippedFile, optional
        Files that cannot be used are appended here (with reasons) instead of raising.

    Yields
    ------
    path : Path
    audio : np.ndarray, float32, shape (n,)
    """
    files, skip = scan_audio(paths)
    if skipped is not None:
        skipped.extend(skip)
    for path in files:
        try:
            audio = read_mono_48k(path)
        except InputError as exc:
            if skipped is not None:
                skipped.append(SkippedFile(path, exc.problem))
            continue
        if audio.size == 0:
            if skipped is not None:
                skipped.append(SkippedFile(path, "contains no samples"))
            continue
        yield path, audio
