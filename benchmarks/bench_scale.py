"""Scale rehearsal: every data stage on H hours of demo audio, measured (docs/scaling.md).

Builds H hours of demo speech and H hours of demo noise (``rnnoise_kit.audio.demo``, offline,
cached in the work folder), then runs, each stage as the command a user would type, in a
fresh process:

* ``prepare``: speech and noise folders to ``.raw`` (``--jobs W``);
* ``features_local``: ``H * 360,000`` rows (10 ms frames: as many rows as hours of audio)
  with ``--jobs W`` into one ``.f32``;
* ``features_dask``: the same rows on a Dask cluster of W workers started as separate
  ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1, into a sharded folder written
  by the workers (its bytes are checked equal to ``features_local``'s: ``dask_identical``);
* ``train``: one epoch on the sharded matrix (CPU, the ``rnn_train.py`` recipe);
* ``compare``: the new model against the bundled one on a fixed test set (8 x 10 s, made with
  ``mix`` from the demo data; its cost does not grow with H).

Per stage: wall time, CPU time (the command and every process it waited for, plus the Dask
workers), peak RSS (the largest single process: the command, a pool worker or a Dask worker),
bytes written (the stage's outputs), frames and frames per second. Prints ONE JSON line.
Usage: ``python benchmarks/bench_scale.py --hours H [--workers 2] [--work DIR] [--synth-hours S]``.

``--synth-hours S`` synthesises only S hours (H a whole multiple of S) and repeats that build
H / S times as separate files (hard links in ``copy_KK/`` folders): every stage still reads,
writes and computes H hours, only the synthesis, which is not one of the measured stages
(espeak-ng runs about as slow as real time on a loaded 2-core machine), is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAMES_PER_HOUR = 360_000
SRC = Path(__file__).resolve().parents[1] / "src"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env["RNNOISE_KIT_NO_PROGRESS"] = "1"
    return env


def _proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        hwm = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
        return cpu, hwm
    except OSError:
        return 0.0, 0


def _size(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total


def _become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    A stage's forkserver (``prepare``'s pool) outlives the stage: it exits when the stage
    does, is then nobody's child, and its CPU time and its workers' (which it reaped) were
    lost to the stage's ``wait4``. Adopted, it is reaped here (:func:`_reap_adopted`)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children() -> set[int]:
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def _reap_adopted(known: set[int], timeout: float = 30.0) -> tuple[float, int]:
    """Wait for the children of this process that it did not start (orphans of the stage
    just measured, adopted as subreaper); return their CPU seconds (with their own reaped
    descendants') and largest peak RSS in bytes."""
    cpu, peak = 0.0, 0
    deadline = time.monotonic() + timeout
    while True:
        adopted = _children() - known
        if not adopted or time.monotonic() > deadline:
            return cpu, peak
        for pid in adopted:
            try:
                done, _, ru = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done == pid:
                cpu += ru.ru_utime + ru.ru_stime
                peak = max(peak, ru.ru_maxrss * 1024)
        time.sleep(0.05)


def _measured(argv: list[str], outputs: list[Path], frames: int,
              workers: list[int] = ()) -> dict:
    """Run ``argv`` as a child and measure it (``os.wait4`` gives its rusage and that of the
    descendants it reaped; orphans it left are adopted and added, :func:`_reap_adopted`)."""
    before = {pid: _proc_stat(pid)[0] for pid in workers}
    known = _children()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rnnoise_kit.cli", *argv], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    cpu = ru.ru_utime + ru.ru_stime
    peak = ru.ru_maxrss * 1024
    orphans_cpu, orphans_peak = _reap_adopted(known)
    cpu += orphans_cpu
    peak = max(peak, orphans_peak)
    for pid in workers:
        c, hwm = _proc_stat(pid)
        cpu += c - before[pid]
        peak = max(peak, hwm)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(peak / 2**20, 1),
            "disk_written_mb": round(_size(outputs) / 2**20, 1), "frames": int(frames),
            "frames_per_s": round(frames / wall, 1) if wall > 0 else None}


def _start_cluster(folder: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    folder.mkdir(parents=True, exist_ok=True)
    sfile = folder / "scheduler.json"
    sfile.unlink(missing_ok=True)
    bindir = Path(sys.executable).parent
    dask = [str(bindir / "dask")] if (bindir / "dask").exists() else [
        sys.executable, "-m", "distributed.cli.dask"]
    quiet = {"env": _env(), "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sfile)], **quiet)]
    while not sfile.is_file():
        if procs[0].poll() is not None:
            raise SystemExit("dask scheduler did not start")
        time.sleep(0.2)
    time.sleep(0.5)
    address = json.loads(sfile.read_text())["address"]
    for i in range(workers):
        # no nanny: each worker is one process, measured directly
        procs.append(subprocess.Popen(
            [*dask, "worker", "--scheduler-file", str(sfile), "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1", "--local-directory",
             str(folder / f"w{i}")], **quiet))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=300)
    return address, procs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, help="work folder (kept; default: a temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth-hours", type=float,
                    help="hours to synthesise, repeated to make --hours (default: --hours)")
    args = ap.parse_args()
    synth = args.synth_hours or args.hours
    copies = round(args.hours / synth)
    if copies < 1 or abs(copies * synth - args.hours) > 1e-9:
        ap.error("--hours must be a whole multiple of --synth-hours")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    orphans_counted = _become_subreaper()
    w = str(args.workers)
    seconds = args.hours * 3600
    frames = int(args.hours * FRAMES_PER_HOUR)
    stages: dict[str, dict] = {}

    from rnnoise_kit.audio.demo import make_demo_dataset

    t0 = time.perf_counter()
    data = make_demo_dataset(work / "data", speech_seconds=synth * 3600,
                             noise_seconds=synth * 3600, seed=args.seed, progress=False)
    data_s = time.perf_counter() - t0
    speech_dir, noise_dir = Path(data.speech_dir), Path(data.noise_dir)
    if copies > 1:
        speech_dir, noise_dir = (_repeated(d, work / "repeated" / d.name, copies)
                                 for d in (speech_dir, noise_dir))

    raw = [work / "speech.raw", work / "noise.raw"]
    prep = [_measured(["prepare", str(speech_dir), "-o", str(raw[0]), "--jobs", w],
                      [raw[0]], int(seconds * 100)),
            _measured(["prepare", str(noise_dir), "-o", str(raw[1]), "--jobs", w],
                      [raw[1]], int(seconds * 100))]
    stages["prepare"] = _merge(prep)

    local = work / "features.f32"
    for p in (local, work / "features"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    feat = ["features", "--speech", str(raw[0]), "--noise", str(raw[1]), "--frames",
            str(frames), "--seed", str(args.seed), "--no-hash"]
    stages["features_local"] = _measured([*feat, "-o", str(local), "--jobs", w], [local], frames)
    address, cluster = _start_cluster(work / "dask", args.workers)
    try:
        sharded = work / "features"
        stages["features_dask"] = _measured(
            [*feat, "-o", f"{sharded}/", "--scheduler", address], [sharded], frames,
            [p.pid for p in cluster[1:]])
    finally:
        for p in reversed(cluster):
            p.terminate()
        for p in cluster:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    identical = _same_rows(local, sharded)

    run = work / "train"
    if run.exists():
        shutil.rmtree(run)
    stages["train_1_epoch"] = _measured(["train", f"{sharded}/", "-o", str(run), "--epochs",
                                         "1", "--device", "cpu"], [run], frames)

    from rnnoise_kit.audio.mix import mix

    testset = work / "testset"
    if not (testset / "mix.csv").exists():
        speech_files = sorted(Path(data.speech_dir).rglob("*.wav"))
        noise_files = sorted(Path(data.noise_dir).rglob("*.wav"))
        mix(speech_files, noise_files, testset, count=8, seconds=10.0, seed=args.seed)
    report = work / "report"
    if report.exists():
        shutil.rmtree(report)
    stages["compare"] = _measured(
        ["compare", "--testset", str(testset), "-m", f"new={run / 'model.rnnn'}", "-m",
         "bundled", "-o", str(report), "--jobs", w], [report], 8 * 10 * 100 * 2)

    print(json.dumps({
        "hours": args.hours, "workers": args.workers, "cpu_count": os.cpu_count(),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "synth_hours": synth, "demo_data_s": round(data_s, 1), "dask_identical": identical,
        "orphans_counted": orphans_counted, "stages": stages,
    }))


def _repeated(source: Path, dest: Path, copies: int) -> Path:
    """``dest/copy_KK/...``: ``copies`` hard-linked copies of the WAV files under ``source``."""
    if dest.exists():
        shutil.rmtree(dest)
    for k in range(copies):
        for f in sorted(source.rglob("*.wav")):
            target = dest / f"copy_{k:02d}" / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
    return dest


def _merge(parts: list[dict]) -> dict:
    out = {k: round(sum(p[k] for p in parts), 2)
           for k in ("wall_s", "cpu_s", "disk_written_mb", "frames")}
    out["peak_rss_mb"] = max(p["peak_rss_mb"] for p in parts)
    out["frames_per_s"] = round(out["frames"] / out["wall_s"], 1)
    return out


def _same_rows(single: Path, folder: Path) -> bool:
    index = json.loads((folder / "index.json").read_text())
    with open(single, "rb") as f:
        for e in index["shards"]:
            with open(folder / e["file"], "rb") as g:
                while block := g.read(1 << 22):
                    if f.read(len(block)) != block:
                        return False
        return f.read(1) == b""


if __name__ == "__main__":
    main()
