"""Speed of the RNNoise feature analysis: prints one JSON line.

    {"offline_frames_per_s": ..., "streaming_frames_per_s": ..., "first_call_s": ...}

* offline: :func:`rnnoise_kit.dsp.features.analyse` over 5 minutes of synthetic audio
  (``_signals.noisy_speech``) in blocks of 4096 frames, one thread, after numba warm-up; median
  of several runs.
* streaming: :class:`StreamingAnalyzer`, one 480-sample frame per call; median of several runs.
* first_call_s: a fresh Python process, numba cache warm, from its start until it holds the
  features of its first frame (wall clock, median of 3).

Throughput is measured in CPU time of the calling thread (``time.thread_time``): the work runs
on one core (``NUMBA_NUM_THREADS=1``, no parallel kernels), and CPU time keeps the figure
meaningful on a shared machine where wall time swings twofold with other load. Thread CPU time
includes the kernel time of the thread, i.e. the page faults of the freshly allocated output
arrays (X and P alone are 7.7 kB a frame), which are a real part of the offline cost.

Runs without the reference data. Usage: ``python benchmarks/bench_features.py [--quick]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _signals import noisy_speech  # noqa: E402  (benchmarks/, the script's folder)


def bench_offline(x: np.ndarray, runs: int) -> float:
    from rnnoise_kit.dsp.features import AnalysisState, analyse

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


def bench_streaming(x: np.ndarray, frames: int, runs: int) -> float:
    from rnnoise_kit.dsp.features import StreamingAnalyzer

    times = []
    for _ in range(runs):
        sa = StreamingAnalyzer()
        sa.process(x[:480])
        t0 = time.thread_time()
        for t in range(1, frames + 1):
            sa.process(x[480 * t : 480 * t + 480])
        times.append(time.thread_time() - t0)
    return frames / statistics.median(times)


_CHILD = (
    "import numpy as np\n"
    "from rnnoise_kit.dsp.features import StreamingAnalyzer\n"
    "r = StreamingAnalyzer().process(np.ones(480, np.float32))\n"
    "print(r.features.shape[0], flush=True)\n"
)


def first_call() -> float:
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", _CHILD], check=True, env=env, capture_output=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _CHILD], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    quick = "--quick" in sys.argv
    x = noisy_speech(30 if quick else 300).astype(np.float32)
    result = {
        "offline_frames_per_s": round(bench_offline(x, 2 if quick else 5)),
        "streaming_frames_per_s": round(bench_streaming(x, 1000 if quick else 5000, 3)),
        "first_call_s": round(first_call(), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
