"""``rnnoise-kit balance``: cut every group of a dataset down to the smallest one.

Replaces note 1.3 of the manual recipe (``balance_dns_challenge_dataset.py``), keeping the
folder structure. Each group is a folder under ``root``, scanned recursively for audio
(:mod:`rnnoise_kit.audio.scan`; unreadable or empty files are skipped and listed). The
smallest group, measured ``by`` count, duration or bytes, is kept whole; every other group
is sampled down to its size:

* ``count``: that many files, drawn at random;
* ``duration`` / ``bytes``: files are visited in a seeded random order while the running
  total is below the target; a file is taken when the total with it is no farther from the
  target than without it (a file that would overshoot by more than the remaining gap is
  passed over for the next one). If no file is that small, the first drawn is taken.

Draws use ``numpy.random.default_rng`` seeded from ``seed`` and the group's name, so a
group's choice does not depend on which other groups are balanced with it.

Chosen files go to ``output/GROUP/relative/path`` (copied, or hard-linked with ``link``,
falling back to a copy across file systems); sources are never moved or changed. If any
destination file already exists, nothing is written and :class:`InputError` names it (no
silent overwrite; pick an empty folder). ``output/balance.csv`` lists the chosen files.
Everything is made in a hidden staging folder beside ``output`` and moved in at the end, so
a failure (a full disk, Ctrl-C, SIGTERM) leaves ``output`` as it was, and a rerun starts
clean (a killed run's staging folder is removed by the next one, and the files it had
already moved into an existing ``output`` are taken out again).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.io import audio_info
from rnnoise_kit.audio.scan import SkippedFile, natural_key, scan_audio
from rnnoise_kit.errors import InputError, SettingError
from rnnoise_kit.fileio import atomic_tree, remove_stale_temps
from rnnoise_kit.progress import progress_bar

MEASURES = ("count", "duration", "bytes")
CSV_NAME = "balance.csv"


@dataclass(frozen=True)
class GroupFile:
    """One usable audio file of a group."""

    source: Path
    relative: Path
    """Path relative to the group folder (kept under ``output/GROUP``)."""
    duration: float
    bytes: int


@dataclass
class Group:
    """A group before and after balancing."""

    name: str
    files: list[GroupFile] = field(default_factory=list)
    chosen: list[GroupFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    def measure(self, by: str, chosen: bool = False) -> float:
        """Size of the group (or of its chosen part) by ``count``, ``duration`` or ``bytes``."""
        files = self.chosen if chosen else self.files
        if by == "count":
            return float(len(files))
        if by == "duration":
            return float(sum(f.duration for f in files))
        return float(sum(f.bytes for f in files))


@dataclass
class BalanceReport:
    """What :func:`balance` chose and wrote."""

    output: Path
    by: str
    seed: int
    groups: list[Group]
    dry_run: bool = False
    link_fallbacks: int = 0
    """Files copied because a hard link was impossible (``link=True``)."""
    csv_path: Path | None = None

    @property
    def skipped(self) -> list[SkippedFile]:
        """Unusable files of every group."""
        return [s for g in self.groups for s in g.skipped]


def _scan_group(root: Path, name: str) -> Group:
    folder = root / name
    if not folder.is_dir():
        raise InputError(folder, "no such folder under the root")
    paths, walk_skipped = scan_audio([folder], probe=False)
    group = Group(name, skipped=list(walk_skipped))
    for path in paths:
        try:
            info = audio_info(path)
            if info.frames <= 0:
                raise InputError(path, "contains no samples")
            size = path.stat().st_size
        except (InputError, OSError) as exc:
            reason = exc.problem if isinstance(exc, InputError) else str(exc)
            group.skipped.append(SkippedFile(path, reason))
            continue
        group.files.append(
            GroupFile(path, path.relative_to(folder), info.frames / info.sample_rate, size)
        )
    return group


def _choose(group: Group, by: str, target: float, seed: int) -> list[GroupFile]:
    """Seeded sample of ``group`` whose size by ``by`` is about ``target``."""
    rng = np.random.default_rng([seed, zlib.crc32(group.name.encode("utf-8"))])
    order = rng.permutation(len(group.files))
    if by == "count":
        picked = [group.files[i] for i in order[: int(round(target))]]
    else:
        picked, total = [], 0.0
        for i in order:
            if total >= target:
                break
            f = group.files[i]
            size = f.duration if by == "duration" else float(f.bytes)
            if total + size - target <= target - total:  # lands no farther than now
                picked.append(f)
                total += size
        if not picked:  # every file is over twice the target: take the first drawn
            picked = [group.files[order[0]]]
    return sorted(picked, key=lambda f: natural_key(f.relative))


def _place(src: Path, dest: Path, link: bool) -> bool:
    """Copy or hard-link ``src`` to ``dest``; True when a link fell back to a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dest)
            return False
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copy2(src, dest)
    return link


def _name_groups(folders: Sequence[str]) -> list[str]:
    names: list[str] = []
    for raw in folders:
        name = Path(raw.strip()).as_posix().strip("/")
        if not name or name == ".":
            raise SettingError("folders", f"holds an empty group folder name ({raw!r})")
        if Path(raw.strip()).is_absolute() or ".." in Path(name).parts:
            raise InputError(None, f"group {raw!r} must be a folder inside the root")
        if name in names:
            raise InputError(None, f"group {name!r} given twice")
        names.append(name)
    for a in names:
        for b in names:
            if a != b and b.startswith(a + "/"):
                raise InputError(None, f"groups {a!r} and {b!r} overlap (one is inside the "
                                 "other)")
    return names


def balance(
    root: str | os.PathLike,
    folders: Sequence[str],
    output: str | os.PathLike,
    by: str = "duration",
    seed: int = 0,
    link: bool = False,
    dry_run: bool = False,
) -> BalanceReport:
    """Sample every group down to the size of the smallest and copy the choice to ``output``.

    Parameters
    ----------
    root : path-like
        Folder holding the groups.
    folders : sequence of str
        Group folders, relative to ``root`` (at least two, not nested in each other).
    output : path-like
        Where ``GROUP/relative/path`` copies and ``balance.csv`` go.
    by : {"duration", "count", "bytes"}
        How group sizes are measured.
    seed : int
        Seed of the random draws (same seed, same files).
    link : bool
        Hard-link instead of copying (copy where a link is impossible).
    dry_run : bool
        Choose and report, write nothing.

    Returns
    -------
    BalanceReport

    Raises
    ------
    InputError
        Bad arguments, a missing folder, a group without usable audio, or a destination
        file that already exists.
    """
    if by not in MEASURES:
        raise SettingError("by", f"must be one of {', '.join(MEASURES)} (got {by!r})")
    root, output = Path(root), Path(output)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    names = _name_groups(folders)
    if len(names) < 2:
        raise InputError(None, "give at least two group folders to balance")
    out_res, root_res = output.resolve(), root.resolve()
    for name in names:
        g = (root_res / name).resolve()
        if out_res == g or g in out_res.parents:
            raise InputError(output, f"output lies inside group {name!r}; choose another")
    groups = [_scan_group(root, name) for name in names]
    empty = [g.name for g in groups if not g.files]
    if empty:
        raise InputError(root / empty[0], "group has no usable audio files")

    target = min(g.measure(by) for g in groups)
    smallest = next(g for g in groups if g.measure(by) == target)
    for g in groups:
        if g is smallest:
            g.chosen = sorted(g.files, key=lambda f: natural_key(f.relative))
        else:
            g.chosen = _choose(g, by, target, seed)

    report = BalanceReport(output, by, seed, groups, dry_run=dry_run)
    plan = [(f.source, output / g.name / f.relative, g, f) for g in groups for f in g.chosen]
    if not dry_run:  # a run killed while moving its files in: undo it before looking
        remove_stale_temps(output, "")
    clashes = [dest for _, dest, _, _ in plan if dest.exists() or dest.is_symlink()]
    if clashes:
        raise InputError(clashes[0], f"already exists ({len(clashes)} destination(s) taken); "
                         "nothing was written: remove them or choose an empty output folder")
    if dry_run:
        return report
    # all or nothing: copies and balance.csv are made in a staging folder and moved in last
    with atomic_tree(output, replace=[CSV_NAME]) as stage, \
            progress_bar(len(plan), "balance") as bar:
        for src, dest, _, _ in plan:
            report.link_fallbacks += _place(src, stage / dest.relative_to(output), link)
            bar.advance(1)
        (stage / CSV_NAME).write_text(_csv_text(plan, output), encoding="utf-8")
    report.csv_path = output / CSV_NAME
    return report


def _csv_text(plan, output: Path) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["group", "file", "source", "duration_s", "bytes"])
    for src, dest, g, f in plan:
        w.writerow([g.name, dest.relative_to(output).as_posix(), str(src),
                    f"{f.duration:.3f}", f.bytes])
    return buf.getvalue()


def summary_rows(report: BalanceReport) -> list[list[str]]:
    """Rows of the before/after table: group, files, duration, size (before -> after), skipped.

    Returns
    -------
    list of list of str
    """
    rows = []
    for g in report.groups:
        rows.append([
            g.name,
            f"{len(g.files)} -> {len(g.chosen)}",
            f"{_hms(g.measure('duration'))} -> {_hms(g.measure('duration', True))}",
            f"{_size(g.measure('bytes'))} -> {_size(g.measure('bytes', True))}",
            str(len(g.skipped)),
        ])
    return rows


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 60 else f"{seconds:.1f} s"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
