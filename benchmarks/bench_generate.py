"""Benchmark ``rnnoise-kit features`` (default mode): frames/s with 1 and 2 jobs, peak RSS.

Makes its own audio (60 s of synthetic voiced speech with pauses, 60 s of coloured noise, as
48 kHz s16 ``.raw`` files in a temporary folder), then runs, each in a fresh process:

* ``--jobs 1`` over ``--frames1`` rows (default 1,000,000);
* ``--jobs 2`` over ``--frames2`` rows (default 2,000,000), whose peak resident memory is
  reported: sampled every 50 ms over the parent and its workers, as the sum of their PSS
  (proportional set size: pages shared between the forked processes, the libraries and the
  compiled kernels, counted once). The sum of plain RSS, which counts those shared pages in
  every process, and the jobs-1 run's peak RSS (the kernel's high-water mark, ``VmHWM``)
  go to stderr.

The sampler runs in the jobs-2 run only, and its own CPU time (a few ms per sample: the kernel
walks every mapping for ``smaps_rollup``) is left out of the CPU-time figures: in the jobs-1
run it used to take 10-15 % of a core beside the generator.

Each figure is the median of ``--runs`` runs (default 3), each in a fresh process whose
kernels are loaded before the timed call (steady state). Prints ONE JSON line:
``{"jobs1_frames_per_s": ..., "jobs2_frames_per_s": ..., "peak_rss_mb": ...}``.

The v0.1 default mode augments (``--augment all``, the default: generated rooms, filters,
gains, clipping, band limits; no foreground source); ``--augment none`` times the plain v0.1
draws. The rooms are made before the timed call (a long run makes each once per process).

``--arch 0.2`` measures ``features --arch 0.2`` instead (RNNoise 0.2's ``dump_features``), set
up as the C tool's figure in ``shared/reference/v0.2/README.md`` was measured: speech,
background noise, a foreground noise (a third synthetic noise) and a list of two impulse
responses (two simulated rooms, written as raw float32 beforehand, so their simulation is
not timed); defaults 200,000 and 400,000 rows. Its JSON line adds ``jobs1_frames_per_cpu_s``
(rows per second of CPU time of the jobs-1 run: the figure per core that the C tool's
"frames per second of CPU time" compares with, less affected by other load).
Usage: ``python benchmarks/bench_generate.py [--arch 0.1|0.2] [--frames1 N] [--frames2 N]
[--runs R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _signals import coloured_noise, voiced_speech  # benchmarks/, the script's folder
from rnnoise_kit.audio.io import round_to_int


def _make_audio(folder: Path) -> tuple[Path, Path]:
    sp, no = folder / "speech.raw", folder / "noise.raw"
    round_to_int(voiced_speech(60, seed=123)).astype("<i2").tofile(sp)
    round_to_int(coloured_noise(60, seed=124)).astype("<i2").tofile(no)
    return sp, no


def _make_v02_inputs(folder: Path) -> tuple[Path, Path]:
    """A foreground noise and a list of two simulated rooms' responses (raw float32)."""
    import numpy as np

    from rnnoise_kit.training.v02.generator import generated_rooms

    fg = folder / "fg_noise.raw"
    round_to_int(0.5 * coloured_noise(30, seed=125)).astype("<i2").tofile(fg)
    rirs, _ = generated_rooms(7, 2)
    names = []
    for i, rir in enumerate(rirs):
        names.append(f"rir_{i}.f32")
        np.asarray(rir, "<f4").tofile(folder / names[-1])
    (folder / "rir_list.txt").write_text("\n".join(names) + "\n")
    return fg, folder / "rir_list.txt"


def _proc_kb(pid: int, field: str, name: str) -> int:
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid] + [int(c) for c in f.read().split()]
    except OSError:
        return [pid]


class _MemorySampler(threading.Thread):
    """Peak memory of this process and its workers, sampled every 50 ms: the sum of PSS
    (shared pages counted once) and the sum of RSS (shared pages counted in every process)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_pss = self.peak_rss = 0
        self.cpu_s = 0.0
        """CPU time of the sampling itself (to leave out of the generator's)."""
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.is_set():
            pids = _tree(me)
            pss = sum(_proc_kb(p, "Pss:", "smaps_rollup") for p in pids)
            rss = sum(_proc_kb(p, "VmRSS:", "status") for p in pids)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self._stop_event.wait(0.05)
        self.cpu_s = time.thread_time()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _child(speech: str, noise: str, frames: int, jobs: int, out: str, arch: str) -> None:
    os.environ["RNNOISE_KIT_NO_PROGRESS"] = "1"
    if arch == "0.2":
        import functools

        from rnnoise_kit.training.v02.generator import generate_v02

        folder = Path(speech).parent
        generate = functools.partial(generate_v02, foreground_noise=folder / "fg_noise.raw",
                                     rir=folder / "rir_list.txt")
        warm = 2000
    else:
        import functools

        from rnnoise_kit.training.augment import Augmentation, RoomBank
        from rnnoise_kit.training.generator import generate

        aug = Augmentation.from_steps(arch.partition(":")[2] or "all")
        generate = functools.partial(generate, augment=aug)
        warm = 3000
        if aug.reverb:  # the rooms of seed 1: made once per process, not timed
            bank = RoomBank(1)
            for k in range(len(bank)):
                bank[k]

    def cpu() -> float:
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    # steady state: load the compiled kernels (numba cache) before the timed run
    generate(speech, noise, warm, out, seed=1, jobs=1, progress=False, hashes=False)
    sampler = _MemorySampler() if jobs > 1 else None
    if sampler is not None:
        sampler.start()
    c0 = cpu()
    res = generate(speech, noise, frames, out, seed=1, jobs=jobs, progress=False, hashes=False)
    cpu_s = cpu() - c0
    if sampler is not None:
        sampler.stop()
        cpu_s -= sampler.cpu_s
        pss_kb, rss_kb = sampler.peak_pss, sampler.peak_rss
    else:  # one process: its high-water mark (not ru_maxrss: Linux carries that over exec)
        pss_kb = rss_kb = _proc_kb(os.getpid(), "VmHWM:", "status")
    print(json.dumps({"fps": frames / res.seconds, "pss_kb": pss_kb, "rss_sum_kb": rss_kb,
                      "fps_per_cpu_s": frames / max(cpu_s, 1e-9)}))


def _run(speech: Path, noise: Path, frames: int, jobs: int, out: Path, arch: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(speech), str(noise), str(frames), str(jobs),
           str(out), arch]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=("0.1", "0.2"), default="0.1")
    ap.add_argument("--frames1", type=int, help="jobs-1 rows (default 1,000,000; 0.2: 200,000)")
    ap.add_argument("--frames2", type=int, help="jobs-2 rows (default 2,000,000; 0.2: 400,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each; the median is shown")
    ap.add_argument("--augment", default="all", metavar="LIST",
                    help="v0.1: augmentation steps, as `features --augment` (default all)")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sp, no, frames, jobs, out, arch = args.child
        _child(sp, no, int(frames), int(jobs), out, arch)
        return
    v02 = args.arch == "0.2"
    arch = args.arch if v02 else f"0.1:{args.augment}"
    frames1 = args.frames1 or (200_000 if v02 else 1_000_000)
    frames2 = args.frames2 or (400_000 if v02 else 2_000_000)
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        tmp = Path(tmp)
        sp, no = _make_audio(tmp)
        if v02:
            _make_v02_inputs(tmp)
        # warm numba's on-disk cache so neither timed run pays for compilation
        _run(sp, no, 2000 if v02 else 3000, 1, tmp / "warm.f32", arch)
        ones = [_run(sp, no, frames1, 1, tmp / "j1.f32", arch) for _ in range(args.runs)]
        twos = [_run(sp, no, frames2, 2, tmp / "j2.f32", arch) for _ in range(args.runs)]
    r1 = sorted(ones, key=lambda r: r["fps"])[len(ones) // 2]  # the median run
    r2 = sorted(twos, key=lambda r: r["fps"])[len(twos) // 2]
    line = {
        "jobs1_frames_per_s": round(r1["fps"]),
        "jobs2_frames_per_s": round(r2["fps"]),
        "peak_rss_mb": round(r2["pss_kb"] / 1024, 1),
    }
    cpu1 = sorted(r["fps_per_cpu_s"] for r in ones)[len(ones) // 2]
    if v02:
        line = {"arch": "0.2", **line, "jobs1_frames_per_cpu_s": round(cpu1)}
    else:
        line = {"augment": args.augment, **line, "jobs1_frames_per_cpu_s": round(cpu1)}
    print(json.dumps(line))
    print(f"(jobs 2 run: peak memory {r2['pss_kb'] / 1024:.0f} MB counting shared pages once "
          f"(PSS), {r2['rss_sum_kb'] / 1024:.0f} MB summing each process's RSS; jobs 1 run: "
          f"{r1['rss_sum_kb'] / 1024:.0f} MB peak RSS; frames per CPU-second, which the load "
          f"of other processes affects less: jobs 1 {r1['fps_per_cpu_s']:.0f}, jobs 2 "
          f"{r2['fps_per_cpu_s']:.0f}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)", file=sys.stderr)


if __name__ == "__main__":
    main()
