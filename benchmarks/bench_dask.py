"""Benchmark ``features --scheduler local:N`` against one job, as issue 17's acceptance reads.

Runs the three commands a user would type, each in a fresh process and timed whole (start-up,
cluster start and shutdown included), in interleaved rounds so that the machine's drift hits
all of them alike:

* ``features ... --jobs 1 -o one.f32`` (the one-job speed);
* ``features ... --scheduler local:N -o m/`` (a Dask LocalCluster of N workers, sharded output
  written by the workers);
* ``features ... --jobs N -o m.h5`` (the local process pool, for reference);

then checks that the three matrices are the same bytes. Each round runs them in a turned
order (round r starts with the r-th), so that no engine always follows the same one. Beside
them, each round measures what this machine gives N processes of pure-Python arithmetic (no
memory traffic, no I/O, no locks): ``cpu_scaling``, N times one loop run back to back over the
same N loops run in N processes at once. On a virtual machine whose cores share a physical
core or a power budget that figure is below N, and no parallel engine can beat it on
compute-bound work.

Speech and noise: ``--speech``/``--noise`` (``.raw`` 48 kHz s16 or anything ``features``
reads), else 60 s of synthetic voiced speech and 60 s of coloured noise made here. Default
2,000,000 rows (the acceptance run), default augmentation, ``--no-hash``.

Prints ONE JSON line: medians over ``--runs`` rounds (default 3) of each wall time, the
speed-ups of the medians, the median ``cpu_scaling`` and whether every output was identical.
Usage: ``python benchmarks/bench_dask.py [--frames N] [--workers N] [--runs R]
[--speech S --noise N] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _signals import coloured_noise, voiced_speech  # benchmarks/, the script's folder

SRC = Path(__file__).resolve().parents[1] / "src"
SPIN = 20_000_000


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env["RNNOISE_KIT_NO_PROGRESS"] = "1"
    return env


def _features(speech: Path, noise: Path, frames: int, out: Path | str, engine: list[str]) -> float:
    argv = [sys.executable, "-m", "rnnoise_kit.cli", "features", "--speech", str(speech),
            "--noise", str(noise), "--frames", str(frames), "-o", str(out), "--no-hash",
            *engine]
    _settle()
    t0 = time.perf_counter()
    res = subprocess.run(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {res.stderr.strip()}")
    return wall


def _settle() -> None:
    """Write the previous run's outputs out first: the kernel's writeback of hundreds of MB
    would otherwise take CPU from whichever run comes next."""
    os.sync()
    time.sleep(2)


def _spin(_: int = 0) -> int:
    x = 0
    for i in range(SPIN):
        x += i & 7
    return x


def _cpu_scaling(workers: int, repeats: int = 3) -> float:
    """N loops back to back over the same N loops in N processes at once (median of
    ``repeats``)."""
    _settle()
    ctx = multiprocessing.get_context("fork")
    ratios = []
    with ctx.Pool(workers) as pool:
        pool.map(_spin, range(workers))  # start the processes before timing
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(workers):
                _spin()
            serial = time.perf_counter() - t0
            t0 = time.perf_counter()
            pool.map(_spin, range(workers), chunksize=1)
            ratios.append(serial / (time.perf_counter() - t0))
    return statistics.median(ratios)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _rows(path: Path) -> bytes:
    """The matrix's bytes, whatever its form (``.f32``, ``.h5`` or a sharded folder)."""
    import numpy as np

    from rnnoise_kit.training.matrix import MatrixReader

    return np.concatenate([b for _, b in MatrixReader(path).blocks()]).tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds; medians shown")
    ap.add_argument("--speech", type=Path)
    ap.add_argument("--noise", type=Path)
    ap.add_argument("--work", type=Path, help="folder for the outputs (default a temporary one)")
    args = ap.parse_args()
    if (args.speech is None) != (args.noise is None):
        ap.error("give both --speech and --noise, or neither")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_dask_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.speech is None:
            from rnnoise_kit.audio.io import round_to_int

            speech, noise = work / "speech.raw", work / "noise.raw"
            round_to_int(voiced_speech(60, seed=123)).astype("<i2").tofile(speech)
            round_to_int(coloured_noise(60, seed=124)).astype("<i2").tofile(noise)
        else:
            speech, noise = args.speech, args.noise
        n = args.workers
        engines = {
            "one_job": (work / "one.f32", ["--jobs", "1"]),
            f"local_{n}": (work / "m", ["--scheduler", f"local:{n}"]),
            f"jobs_{n}": (work / "m.h5", ["--jobs", str(n)]),
        }
        # numba's on-disk cache filled before any timed run
        _features(speech, noise, 3000, work / "warm.f32", ["--jobs", "1"])
        times: dict[str, list[float]] = {k: [] for k in engines}
        scaling, identical = [], True
        names = list(engines)
        for r in range(args.runs):
            scaling.append(_cpu_scaling(n))
            # the order turns each round: a run's place in the round (after a one-core run or
            # a two-core one, whose writeback and heat it inherits) is not the same engine's
            # every time
            for name in names[r % len(names):] + names[:r % len(names)]:
                out, engine = engines[name]
                _remove(out)
                target = f"{out}/" if out.suffix == "" else str(out)  # a folder: sharded
                times[name].append(_features(speech, noise, args.frames, target, engine))
            first = _rows(engines["one_job"][0])
            identical &= all(_rows(out) == first for out, _ in list(engines.values())[1:])
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    line = {
        "frames": args.frames,
        "workers": n,
        **{f"{k}_s": round(v, 1) for k, v in med.items()},
        f"local_{n}_speedup": round(med["one_job"] / med[f"local_{n}"], 2),
        f"jobs_{n}_speedup": round(med["one_job"] / med[f"jobs_{n}"], 2),
        "cpu_scaling": round(statistics.median(scaling), 2),
        "identical": identical,
    }
    print(json.dumps(line))
    print("(runs: " + "; ".join(f"{k} " + ", ".join(f"{x:.1f}" for x in v)
                                for k, v in times.items())
          + "; cpu_scaling " + ", ".join(f"{x:.2f}" for x in scaling)
          + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
