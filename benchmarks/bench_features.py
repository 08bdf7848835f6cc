"""Speed of the RNNoise feature analysis: prints one JSON line.

    {"arch": "0.1", "offline_frames_per_s": ..., "streaming_frames_per_s": ..., "first_call_s": ...}

* ``--arch 0.1`` (default): v0.1's analysis (42 features); ``--arch 0.2``: the 0.2 series'
  (:mod:`rnnoise_kit.dsp.v02`, 65 features), same measurements.
* offline: :func:`rnnoise_kit.dsp.features.analyse` (0.2: ``analyse_v02``) over 5 minutes of
  synthetic audio (``_signals.noisy_speech``) in blocks of 4096 frames, one thread, after numba
  warm-up; median of 5 runs.
* streaming: :class:`StreamingAnalyzer` (0.2: ``StreamingAnalyzer02``), one 480-sample frame
  per call; median of 3 runs.
* first_call_s: a fresh Python process, numba cache warm, from its start until it holds the
  features of its first frame (wall clock, median of 3).

Throughput is measured in CPU time of the calling thread (``time.thread_time``): the work runs
on one core (``NUMBA_NUM_THREADS=1``, no parallel kernels), and CPU time keeps the figure
meaningful on a shared machine where wall time swings twofold with other load. Thread CPU time
includes the kernel time of the thread, i.e. the page faults of the freshly allocated output
arrays (X and P alone are 7.7 kB a frame), which are a real part of the offline cost.

Runs without the reference data. Usage:
``python benchmarks/bench_features.py [--quick] [--arch 0.1|0.2]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _signals import noisy_speech  # noqa: E402  (benchmarks/, the script's folder)


def _api(arch: str):
    """(state class, offline analyse, streaming analyser class) of one generation."""
    if arch == "0.2":
        from rnnoise_kit.dsp.v02 import AnalysisState02, StreamingAnalyzer02, analyse_v02

        return AnalysisState02, analyse_v02, StreamingAnalyzer02
    from rnnoise_kit.dsp.features import AnalysisState, StreamingAnalyzer, analyse

    return AnalysisState, analyse, StreamingAnalyzer


def bench_offline(x: np.ndarray, runs: int, arch: str) -> float:
    AnalysisState, analyse, _ = _api(arch)
    n = x.shape[0] // 480
    x = x[: n * 480]
    analyse(x[: 480 * 50])  # warm-up
    times = []
    for _ in range(runs):
        st = AnalysisState()
        t0 = time.thread_time()
        for a in range(0, n, 4096):
            analyse(x[480 * a : 480 * min(n, a + 4096)], st)
        times.append(time.thread_time() - t0)
    return n / statistics.median(times)


def bench_streaming(x: np.ndarray, frames: int, runs: int, arch: str) -> float:
    StreamingAnalyzer = _api(arch)[2]
    times = []
    for _ in range(runs):
        sa = StreamingAnalyzer()
        sa.process(x[:480])
        t0 = time.thread_time()
        for t in range(1, frames + 1):
            sa.process(x[480 * t : 480 * t + 480])
        times.append(time.thread_time() - t0)
    return frames / statistics.median(times)


_CHILD = {
    "0.1": (
        "import numpy as np\n"
        "from rnnoise_kit.dsp.features import StreamingAnalyzer\n"
        "r = StreamingAnalyzer().process(np.ones(480, np.float32))\n"
        "print(r.features.shape[0], flush=True)\n"
    ),
    "0.2": (
        "import numpy as np\n"
        "from rnnoise_kit.dsp.v02 import StreamingAnalyzer02\n"
        "r = StreamingAnalyzer02().process(np.ones(480, np.float32))\n"
        "print(r.features.shape[0], flush=True)\n"
    ),
}


def first_call(arch: str) -> float:
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    child = [sys.executable, "-c", _CHILD[arch]]
    subprocess.run(child, check=True, env=env, capture_output=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(child, check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 s of audio, fewer runs")
    ap.add_argument("--arch", choices=("0.1", "0.2"), default="0.1", help="RNNoise generation")
    args = ap.parse_args()
    quick, arch = args.quick, args.arch
    x = noisy_speech(30 if quick else 300).astype(np.float32)
    result = {
        "arch": arch,
        "offline_frames_per_s": round(bench_offline(x, 2 if quick else 5, arch)),
        "streaming_frames_per_s": round(bench_streaming(x, 1000 if quick else 5000, 3, arch)),
        "first_call_s": round(first_call(arch), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
