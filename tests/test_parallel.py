"""The data stages on Dask (``--scheduler``, :mod:`rnnoise_kit.parallel`): a scheduler and two
workers started as real processes on 127.0.0.1 give the same bytes and metrics as ``--jobs 2``,
also when a worker is killed mid-run; without Dask, ``--scheduler`` is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import training_noise as _noise
from helpers import training_speech as _speech
from rnnoise_kit import parallel
from rnnoise_kit.cli import main
from rnnoise_kit.parallel import CLUSTER_EXTRA, ClusterError, close_clients, open_executor
from rnnoise_kit.training import generator as G
from rnnoise_kit.training.sharded import INDEX_NAME

pytest.importorskip("distributed")

SRC = Path(__file__).resolve().parents[1] / "src"
FRAMES = 2 * G.SHARD_ROWS + 3000
"""Three generator shards (the real size: the workers are other processes)."""


def _env() -> dict:
    env = dict(os.environ)
    # the package, and this folder for the test's own job functions
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(Path(__file__).parent),
                                         env.get("PYTHONPATH", "")])
    env["RNNOISE_KIT_NO_PROGRESS"] = "1"
    return env


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, folder: Path, workers: int = 2):
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "scheduler.json"
        py = sys.executable
        common = ["--no-dashboard"]
        self.scheduler = subprocess.Popen(
            [py, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(self.file), *common],
            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self.file.is_file():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, but give the writer a moment
        self.address = json.loads(self.file.read_text())["address"]
        # no nanny: a killed worker stays dead, as a lost machine would
        self.workers = [subprocess.Popen(
            [py, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(self.file),
             "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
             "--local-directory", str(folder / f"w{i}"), *common],
            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(workers)]
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        close_clients()
        for p in [*getattr(self, "workers", []), self.scheduler]:
            if p.poll() is None:
                p.terminate()
        for p in [*getattr(self, "workers", []), self.scheduler]:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    yield c
    c.close()


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    sp, no = d / "speech.raw", d / "noise.wav"
    _speech().tofile(sp)
    sf.write(str(no), _noise(), 48000, subtype="PCM_16")
    return sp, no


@pytest.fixture(scope="module")
def local_matrix(audio, tmp_path_factory):
    """The three-shard matrix from ``--jobs 2``."""
    out = tmp_path_factory.mktemp("local") / "m.f32"
    G.generate(*audio, FRAMES, out, seed=5, jobs=2, progress=False)
    return out.read_bytes()


def _shard_bytes(folder: Path) -> bytes:
    index = json.loads((folder / INDEX_NAME).read_text())
    return b"".join((folder / e["file"]).read_bytes() for e in index["shards"])


def _square(offset: int, x: int) -> int:
    return offset + x * x


def test_executors_keep_task_order(cluster):
    for executor in (open_executor(1), open_executor(2), open_executor(scheduler=cluster.address)):
        with executor:
            assert list(executor.map(_square, range(9), 100)) == [100 + i * i for i in range(9)]


def test_a_finished_task_frees_its_slot_before_the_oldest_finishes():
    # task 0 waits until a task beyond the first window has started: that happens only if a
    # slot is refilled when a later task finishes, not when the oldest one does
    import threading
    from concurrent.futures import ThreadPoolExecutor

    window = 2
    beyond = threading.Event()

    def job(i: int) -> str:
        if i >= window:
            beyond.set()
        if i == 0:
            return "refilled" if beyond.wait(timeout=20) else "starved"
        return str(i)

    with ThreadPoolExecutor(window) as pool:
        out = list(parallel._in_order(lambda i: pool.submit(job, i), range(6), window,
                                      lambda f: f.result()))
    assert out == ["refilled", "1", "2", "3", "4", "5"]


def test_local_cluster_started_early_is_the_one_used(monkeypatch):
    # started in the background, taken over by the executor: one cluster, not two
    parallel.start_cluster("local:1")
    with open_executor(scheduler=" local:1 ") as executor:
        assert list(executor.map(_square, range(3), 1)) == [1, 2, 5]
        assert executor.client is parallel._CLIENTS["local:1"]
    assert "local:1" not in parallel._STARTING
    # what failed in the background is raised where the executor opens
    def refused(scheduler):
        raise ClusterError(f"no cluster for {scheduler}")

    monkeypatch.setattr(parallel, "_connect", refused)
    parallel.start_cluster("local:3")
    with pytest.raises(ClusterError, match="no cluster for local:3"):
        open_executor(scheduler="local:3")
    # an address is only checked: nothing is started or reached before the executor opens
    parallel.start_cluster("tcp://127.0.0.1:9")
    assert "tcp://127.0.0.1:9" not in parallel._STARTING


def test_a_job_the_scheduler_forgot_runs_again():
    # the scheduler forgets a job whose result was lost with its worker as the client fetched
    # it (FutureCancelledError, "reason: unknown"): the executor runs the job again instead of
    # failing the stage; lost every time, it is a one-line ClusterError
    from concurrent.futures import CancelledError

    class Job:
        def __init__(self, key, value, lost):
            self.key, self.value, self.lost = key, value, lost

        def result(self):
            if self.lost:
                raise CancelledError(f"{self.key} cancelled for reason: unknown.")
            return self.value

        def done(self):
            return True

        def add_done_callback(self, fn):
            fn(self)

        def cancel(self):
            pass

    class Client:
        def __init__(self, lose):
            self.lose, self.runs = lose, []

        def cancel(self, futures):
            pass

        def submit(self, fn, *args, **kw):
            if len(args) == 1:  # the shared context
                return Job(kw["key"], args[0], False)
            f, token, shared, task = args
            self.runs.append(task)
            lost = self.runs.count(task) <= self.lose.get(task, 0)
            return Job(kw["key"], f(0, task), lost)

    def run(lose):
        executor = parallel.DaskExecutor.__new__(parallel.DaskExecutor)
        executor.scheduler, executor.client, executor.workers = "tcp://x:1", Client(lose), 2
        return list(executor.map(_square, range(4), 0)), executor.client.runs

    out, runs = run({2: 1})
    assert out == [0, 1, 4, 9]
    assert sorted(runs) == [0, 1, 2, 2, 3]
    with pytest.raises(ClusterError, match="was lost with its worker 3 times"):
        run({1: parallel.RETRIES + 1})


def test_a_local_cluster_ending_logs_no_comm_traceback():
    # Dask logs a closed in-memory comm as INFO with a traceback once the cluster's silenced
    # logs are back: how a local:N cluster ends, not a fault. A closed TCP comm still logs.
    import logging

    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("distributed.batched")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with open_executor(scheduler="local:1") as executor:
            assert list(executor.map(_square, range(2), 1)) == [1, 2]
        class Comm:  # what Dask logs of its comm is the repr
            def __repr__(self):
                return "<InProc (closed)  local=inproc://a/1 remote=inproc://a/2>"

        logger.info("Batched Comm Closed %r", Comm())
        logger.info("Batched Comm Closed %r", "<TCP (closed) local=tcp://127.0.0.1:1>")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage() for r in seen] == [
        "Batched Comm Closed '<TCP (closed) local=tcp://127.0.0.1:1>'"]


def test_dask_features_equal_jobs_2(cluster, audio, local_matrix, tmp_path):
    sp, no = audio
    G.generate(sp, no, FRAMES, tmp_path / "d.f32", seed=5, scheduler=cluster.address,
               progress=False)
    assert (tmp_path / "d.f32").read_bytes() == local_matrix
    # sharded: the workers write their own shards
    rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", str(FRAMES),
               "--seed", "5", "-o", f"{tmp_path / 'd'}/", "--scheduler", cluster.address])
    assert rc == 0
    assert _shard_bytes(tmp_path / "d") == local_matrix


def test_dask_compat_equals_jobs_2(cluster, audio, tmp_path, capsys):
    sp, no = audio
    args = ["features", "--speech", str(sp), "--noise", str(no), "--frames", "9000", "--compat"]
    assert main([*args, "-o", str(tmp_path / "l.f32"), "--jobs", "2"]) == 0
    assert main([*args, "-o", f"{tmp_path / 'd'}/", "--scheduler", cluster.address]) == 0
    assert _shard_bytes(tmp_path / "d") == (tmp_path / "l.f32").read_bytes()
    assert "--scheduler ignored" in capsys.readouterr().err


def test_worker_killed_mid_run_still_byte_identical(audio, local_matrix, tmp_path):
    sp, no = audio
    c = Cluster(tmp_path / "cluster")
    try:
        out = tmp_path / "d"
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnnoise_kit.cli", "features", "--speech", str(sp),
             "--noise", str(no), "--frames", str(FRAMES), "--seed", "5", "-o", f"{out}/",
             "--scheduler", c.address], env=_env(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600
        while not list(out.glob("shard-*.f32")):  # the first shard is done: both are busy
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        c.workers[0].send_signal(signal.SIGKILL)
        c.workers[0].wait()
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    finally:
        c.close()
    assert _shard_bytes(out) == local_matrix


def _testset(folder: Path) -> Path:
    from rnnoise_kit.audio.mix import mix

    src = folder / "src"
    src.mkdir()
    sf.write(str(src / "speech.wav"), _speech(6.0), 48000, subtype="PCM_16")
    sf.write(str(src / "noise.wav"), _noise(6.0), 48000, subtype="PCM_16")
    out = folder / "set"
    mix([src / "speech.wav"], [src / "noise.wav"], out, count=2, seconds=3.0, snr=(0.0, 10.0),
        seed=3)
    return out


def test_dask_compare_gives_the_same_metrics(cluster, tmp_path):
    pytest.importorskip("pesq")
    from rnnoise_kit.evaluation.compare import compare

    testset = _testset(tmp_path)
    local = compare(tmp_path / "l", ["bundled"], testset=testset, jobs=1, spectrograms=False)
    dask = compare(tmp_path / "d", ["bundled"], testset=testset, scheduler=cluster.address,
                   spectrograms=False)
    assert len(local.rows) == len(dask.rows) == 4  # 2 files x (noisy, bundled)
    for a, b in zip(local.rows, dask.rows, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if k == "x_realtime":  # a speed, not a metric
                continue
            if isinstance(a[k], float):
                # same audio in and out; the metric libraries' BLAS sums run on as many threads
                # as each process has (a worker gets one), which moves the last bits only
                assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12, nan_ok=True), k
            else:
                assert a[k] == b[k], k
    for name in ("bundled", "noisy"):
        files = sorted(p.name for p in (tmp_path / "l").rglob("*") if name in p.name)
        assert files == sorted(p.name for p in (tmp_path / "d").rglob("*") if name in p.name)


def test_dask_prepare_equals_jobs_2(cluster, tmp_path):
    from rnnoise_kit.audio.prepare import prepare

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        sf.write(str(src / f"s{i}.wav"), _speech(0.5, seed=i).astype(np.float32) / 32768,
                 16000 + 8000 * i)
    (src / "broken.wav").write_bytes(b"not audio")
    a = prepare([src], tmp_path / "l.raw", jobs=2)
    b = prepare([src], tmp_path / "d.raw", scheduler=cluster.address)
    assert (tmp_path / "l.raw").read_bytes() == (tmp_path / "d.raw").read_bytes()
    assert [s.path for s in a.skipped] == [s.path for s in b.skipped] == [src / "broken.wav"]


def test_without_dask_scheduler_is_one_line(tmp_path, audio):
    sp, no = audio
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from rnnoise_kit.cli import main\n"
            f"sys.exit(main(['features', '--speech', {str(sp)!r}, '--noise', {str(no)!r}, "
            f"'--frames', '100', '-o', {str(tmp_path / 'm.f32')!r}, '--scheduler', 'local:2']))")
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and CLUSTER_EXTRA in lines[0] and "--scheduler" in lines[0], p.stderr
    assert not (tmp_path / "m.f32").exists()


def test_bad_scheduler_values_are_one_line(capsys, audio, tmp_path):
    sp, no = audio
    for value in ("local:0", "local:x"):
        rc = main(["features", "--speech", str(sp), "--noise", str(no), "--frames", "100",
                   "-o", str(tmp_path / "m.f32"), "--scheduler", value])
        assert rc == 2
        assert "--scheduler local:N needs N >= 1" in capsys.readouterr().err
