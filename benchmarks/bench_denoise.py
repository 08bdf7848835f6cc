"""Denoising speed: rnnoise-kit offline and streaming vs FFmpeg ``arnndn`` (v0.1) and vs
pyrnnoise's librnnoise (RNNoise 0.2), on one core.

Prints one JSON line::

    {"offline_x_realtime": ..., "streaming_x_realtime": ..., "ffmpeg_x_realtime": ...,
     "ratio_vs_ffmpeg": ..., "v02_offline_x_realtime": ..., "v02_streaming_x_realtime": ...,
     "v02_library_x_realtime": ..., "v02_ratio_vs_library": ..., "v02_skipped": null, ...}

It makes its own input (5 minutes of ``_signals.noisy_speech``, 48 kHz s16) and writes the model
both sides run with rnnoise-kit's own writer (the bundled model when this build has one, else
random weights of the v0.1 shape), so it runs on a fresh checkout without ../shared. The whole
process, FFmpeg included, is pinned to one CPU. Each figure is the median of --runs runs (wall
time), run round by round (offline, streaming, the peer; reversed every other round) so that the
sides share the machine's load: ours reads the WAV and denoises it; FFmpeg reads the same WAV
and writes to ``-f null``.
Streaming feeds 10 ms chunks (480 samples) through ``Denoiser.stream``. Every figure also comes
as ``*_cpu_x_realtime``, from the CPU time the work used (this process's, FFmpeg's as a child):
on a machine other jobs share, wall time counts their turns on the CPU too, CPU time does not.

RNNoise 0.2: the model is the one built into the installed pyrnnoise's librnnoise, imported with
``read_library`` and written as a blob for rnnoise-kit; the library runs its built-in copy of
the same weights, frame by frame through ctypes (``LibraryRunner``: one Python-level call per
10 ms frame, a few microseconds against about half a millisecond of C work), on the same WAV,
read the same way. Without pyrnnoise the 0.2 figures are null and ``v02_skipped`` says why.
``--skip-v01`` / ``--skip-v02`` leave one part out.

A larger v0.1 network (``train --sizes``): ``--sizes D,V,N,G`` (default 24,24,62,128, the
largest sizes FFmpeg ``arnndn`` loads with the classic dense and VAD layers) adds the same
v0.1 figures for a model of those sizes (random weights: the work does not depend on their
values) as ``sized_*`` fields, FFmpeg included when it loads the model; ``--sizes none``
leaves them out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import soundfile as sf  # noqa: E402

from _signals import RATE, noisy_speech  # noqa: E402  (benchmarks/, the script's folder)
from rnnoise_kit.denoise import Denoiser  # noqa: E402
from rnnoise_kit.model import load_model, random_model, save_model  # noqa: E402
from rnnoise_kit.model.core import layer_sizes, reader_problem  # noqa: E402
from rnnoise_kit.model.registry import default_model_path, has_bundled_model  # noqa: E402
from rnnoise_kit.model.v02.library import (  # noqa: E402
    LibraryRunner,
    pyrnnoise_library,
    read_library,
)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (FFmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def median_times(fns: dict, runs: int, seconds: float) -> dict[str, tuple[float, float]]:
    """x real time (wall, CPU) of each workload: medians over ``runs`` rounds, each round
    running every workload once (the order reversed every other round), so that load which
    drifts during the benchmark weighs on every side alike."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(runs):
        for name in names if r % 2 == 0 else names[::-1]:
            t, c = time.perf_counter(), _cpu_seconds()
            fns[name]()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(_cpu_seconds() - c)
    return {name: (seconds / statistics.median(wall[name]), seconds / statistics.median(cpu[name]))
            for name in names}


def workloads(denoiser: Denoiser, wav: Path, audio) -> dict:
    """Offline (read the WAV, denoise it) and 10 ms streaming, warmed up."""
    denoiser.denoise(audio[:RATE], RATE)  # numba warm-up (cached after the first process)

    def offline():
        x, _ = sf.read(wav, dtype="int16")
        denoiser.denoise(x, RATE)

    def streaming():
        s = denoiser.stream(RATE)
        for i in range(0, audio.shape[0], 480):
            s.process(audio[i : i + 480])
        s.flush()

    return {"offline": offline, "streaming": streaming}


def bench_v01(tmp: Path, wav: Path, audio, args, sizes=None) -> dict:
    if sizes is not None:
        model = random_model(sizes=sizes, scale=0.1)
    else:
        model = load_model(default_model_path()) if has_bundled_model() else random_model()
    model_path = tmp / "model.rnnn"
    save_model(model, model_path)
    fns = workloads(Denoiser(model_path, compensate_delay=False), wav, audio)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg and reader_problem(layer_sizes(model.hidden_sizes)) is None:
        cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
               "-i", str(wav), "-af", f"arnndn=m={model_path}", "-f", "null", "-"]
        fns["ffmpeg"] = lambda: subprocess.run(cmd, check=True)
    x = median_times(fns, args.runs, args.seconds)
    ff = x.get("ffmpeg", (None, None))
    return {
        "offline_x_realtime": x["offline"][0],
        "streaming_x_realtime": x["streaming"][0],
        "ffmpeg_x_realtime": ff[0],
        "ratio_vs_ffmpeg": None if ff[0] is None else x["offline"][0] / ff[0],
        "offline_cpu_x_realtime": x["offline"][1],
        "streaming_cpu_x_realtime": x["streaming"][1],
        "ffmpeg_cpu_x_realtime": ff[1],
        "model": "bundled" if has_bundled_model() else "random v0.1-shape weights",
    }


def bench_v02(tmp: Path, wav: Path, audio, args) -> dict:
    result = {"v02_offline_x_realtime": None, "v02_streaming_x_realtime": None,
              "v02_library_x_realtime": None, "v02_ratio_vs_library": None,
              "v02_streaming_ratio_vs_library": None,
              "v02_offline_cpu_x_realtime": None, "v02_streaming_cpu_x_realtime": None,
              "v02_library_cpu_x_realtime": None, "v02_skipped": None, "v02_model": None}
    library = pyrnnoise_library()
    if library is None:
        result["v02_skipped"] = "pyrnnoise is not installed (its librnnoise is the 0.2 peer)"
        return result
    model = read_library(library)
    blob = tmp / "rnnoise-0.2.bin"
    save_model(model, blob)
    result["v02_model"] = f"pyrnnoise's built-in ({model.description}, {model.precision})"
    fns = workloads(Denoiser(blob, compensate_delay=False), wav, audio)
    runner = LibraryRunner(library)

    def library_run():
        x, _ = sf.read(wav, dtype="int16")
        frames = x.shape[0] - x.shape[0] % 480
        runner.process(x[:frames].astype("float32"))

    fns["library"] = library_run
    x = median_times(fns, args.runs, args.seconds)
    result.update({"v02_offline_x_realtime": x["offline"][0],
                   "v02_streaming_x_realtime": x["streaming"][0],
                   "v02_library_x_realtime": x["library"][0],
                   "v02_ratio_vs_library": x["offline"][0] / x["library"][0],
                   "v02_streaming_ratio_vs_library": x["streaming"][0] / x["library"][0],
                   "v02_offline_cpu_x_realtime": x["offline"][1],
                   "v02_streaming_cpu_x_realtime": x["streaming"][1],
                   "v02_library_cpu_x_realtime": x["library"][1]})
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: first)")
    ap.add_argument("--skip-v01", action="store_true", help="leave out the v0.1 figures")
    ap.add_argument("--skip-v02", action="store_true", help="leave out the 0.2 figures")
    ap.add_argument("--sizes", default="24,24,62,128", metavar="D,V,N,G",
                    help="a larger v0.1 network to time too (sized_* fields; 'none': skip)")
    args = ap.parse_args()
    sizes = None if args.sizes == "none" else tuple(int(v) for v in args.sizes.split(","))

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {args.cpu if args.cpu is not None else cpus[0]})

    result: dict = {"seconds_of_audio": args.seconds, "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        audio = noisy_speech(args.seconds)
        sf.write(wav, audio, RATE, subtype="PCM_16")
        if not args.skip_v01:
            result.update(bench_v01(Path(tmp), wav, audio, args))
            if sizes is not None:
                sized = bench_v01(Path(tmp), wav, audio, args, sizes)
                sized["model"] = f"random weights, sizes {','.join(map(str, sizes))}"
                result.update({f"sized_{k}": v for k, v in sized.items()})
        if not args.skip_v02:
            result.update(bench_v02(Path(tmp), wav, audio, args))
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                      for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
