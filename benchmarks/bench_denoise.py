"""Denoising speed: rnnoise-kit offline and streaming vs FFmpeg ``arnndn``, on one core.

Prints one JSON line::

    {"offline_x_realtime": ..., "streaming_x_realtime": ..., "ffmpeg_x_realtime": ...,
     "ratio_vs_ffmpeg": ..., ...}

It makes its own input (5 minutes of ``_signals.noisy_speech``, 48 kHz s16) and writes the model
both sides run with rnnoise-kit's own writer (the bundled model when this build has one, else
random weights of the v0.1 shape), so it runs on a fresh checkout without ../shared. The whole
process, FFmpeg included, is pinned to one CPU. Each figure is the median of --runs runs (wall
time): ours reads the WAV and denoises it; FFmpeg reads the same WAV and writes to ``-f null``.
Streaming feeds 10 ms chunks (480 samples) through ``Denoiser.stream``.
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
from rnnoise_kit.model.registry import default_model_path, has_bundled_model  # noqa: E402


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: first)")
    args = ap.parse_args()

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {args.cpu if args.cpu is not None else cpus[0]})

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        audio = noisy_speech(args.seconds)
        sf.write(wav, audio, RATE, subtype="PCM_16")
        model = load_model(default_model_path()) if has_bundled_model() else random_model()
        model_path = Path(tmp) / "model.rnnn"
        save_model(model, model_path)

        d = Denoiser(model_path, compensate_delay=False)
        d.denoise(audio[:RATE], RATE)  # numba warm-up (cached after the first process)

        def offline():
            x, _ = sf.read(wav, dtype="int16")
            d.denoise(x, RATE)

        def streaming():
            s = d.stream(RATE)
            for i in range(0, audio.shape[0], 480):
                s.process(audio[i : i + 480])
            s.flush()

        result = {
            "seconds_of_audio": args.seconds,
            "offline_x_realtime": args.seconds / median_time(offline, args.runs),
            "streaming_x_realtime": args.seconds / median_time(streaming, args.runs),
            "ffmpeg_x_realtime": None,
            "ratio_vs_ffmpeg": None,
            "model": "bundled" if has_bundled_model() else "random v0.1-shape weights",
            "runs": args.runs,
        }
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg:
            cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
                   "-i", str(wav), "-af", f"arnndn=m={model_path}", "-f", "null", "-"]
            t = median_time(lambda: subprocess.run(cmd, check=True), args.runs)
            result["ffmpeg_x_realtime"] = args.seconds / t
            result["ratio_vs_ffmpeg"] = result["offline_x_realtime"] / result["ffmpeg_x_realtime"]
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                      for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
