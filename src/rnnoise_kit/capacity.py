"""Room for the work asked: free disk space and memory, checked before any work starts.

A command whose size comes from the user (``features --frames``, ``mix --seconds``) checks
here first, so that a typo such as ``1e12`` rows is refused at once with the size it would
take, instead of filling the disk for hours or dying with ``MemoryError``.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnoise_kit.errors import InputError, OutputError


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units up to EiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def free_disk(path: str | os.PathLike) -> int:
    """Bytes an unprivileged writer may still use on the file system that would hold
    ``path``.

    ``path`` need not exist: its nearest existing folder is asked.
    """
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        p = p.parent
    st = os.statvfs(p)
    return int(st.f_bavail * st.f_frsize)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_disk(path: str | os.PathLike, need: int, what: str) -> None:
    """Raise OutputError when writing ``need`` bytes at ``path`` cannot fit on its disk.

    Parameters
    ----------
    path : path-like
        The output (file or folder; it need not exist yet).
    need : int
        Bytes the output will take.
    what : str
        The work, named in the message (``"150000 rows x 87 float32"``). An output that
        replaces an existing file needs room for both until it is renamed in, so the old
        file's bytes are not counted as free.
    """
    free = free_disk(path)
    if need > free:
        raise OutputError(path, f"{what} would take {format_bytes(need)}, more than the "
                                f"{format_bytes(free)} free on that disk; nothing was written")


def check_memory(need: int, what: str) -> None:
    """Raise InputError when ``need`` bytes are more than the memory available now."""
    avail = available_memory()
    if avail is not None and need > avail:
        raise InputError(None, f"{what} would need about {format_bytes(need)} of memory, more "
                               f"than the {format_bytes(avail)} available; nothing was done")
