"""Independent jobs in parallel: this process, a local process pool, or a Dask cluster.

Every data stage (``features``, ``prepare``, ``compare``) cuts its work into independent jobs
(generator shards with their own seeds, files) and runs them through :func:`open_executor`.
The jobs and their results are the same whichever engine runs them, so the output does not
depend on it: ``--jobs N`` and ``--scheduler ADDRESS`` write the same bytes.

A job is ``fn(context, task)``: ``fn`` a module-level function (sent by reference), ``context``
what every job shares (sources, settings; sent once per worker), ``task`` what this one does.
:meth:`Executor.map` yields the results in task order, with a bounded number of jobs in flight
so that memory does not grow with the number of tasks.

Dask (the ``cluster`` extra, ``pip install 'rnnoise-kit[cluster]'``) is imported only when a
scheduler is named. ``local:N`` starts a cluster of N single-threaded workers in this process
(threads: the kernels release the GIL); any other value is the address of a running
``dask scheduler`` (``tcp://10.0.0.5:8786``). A worker lost mid-run costs only the jobs it
held: the scheduler runs them again elsewhere, and the results still arrive in order.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

from rnnoise_kit.errors import RnnoiseKitError, SettingError

CLUSTER_EXTRA = "pip install 'rnnoise-kit[cluster]'"
"""How to get Dask (said by every error about a missing ``cluster`` extra)."""
LOCAL_PREFIX = "local:"
RETRIES = 2
"""Times a Dask job that raised is run again (a lost worker is handled by the scheduler)."""

__all__ = ["CLUSTER_EXTRA", "ClusterError", "Executor", "check_scheduler", "close_clients",
           "open_executor", "start_cluster"]


class ClusterError(RnnoiseKitError):
    """The Dask cluster could not be reached or ran out of workers."""


def check_scheduler(scheduler: str | None) -> None:
    """Raise :class:`SettingError` for a malformed scheduler value or a missing Dask.

    Parameters
    ----------
    scheduler : str or None
        ``"local:N"`` (N >= 1) or a scheduler address; None means no Dask.
    """
    if scheduler is None:
        return
    text = str(scheduler).strip()
    if not text:
        raise SettingError("scheduler", "must be local:N or a scheduler address, not empty")
    if text.startswith(LOCAL_PREFIX):
        n = text[len(LOCAL_PREFIX):]
        if not n.isdigit() or int(n) < 1:
            raise SettingError("scheduler", f"local:N needs N >= 1 workers (got {text!r})")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SettingError("scheduler", f"needs Dask: {CLUSTER_EXTRA}") from None


# ----------------------------------------------------------------------------- executors


class Executor:
    """Runs ``fn(context, task)`` for every task; see the module docstring."""

    workers: int = 1

    def map(self, fn: Callable[[Any, Any], Any], tasks: Iterable, context: Any = None
            ) -> Iterator:
        """Yield ``fn(context, task)`` for each task, in task order."""
        tune_allocator()
        for task in tasks:
            yield fn(context, task)

    def close(self) -> None:
        """Release the workers (a shared Dask client stays open until the program ends)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# glibc mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@functools.cache
def tune_allocator() -> None:
    """Let this process's allocator keep freed memory for reuse (glibc only; once per process).

    The data jobs allocate and free arrays of a few hundred kB to a few MB (FFT and filter
    buffers of every segment) at a high rate. With glibc's defaults each of them is a fresh
    ``mmap``, page-faulted in zeroed and unmapped again, and Dask's nanny makes it worse by
    starting workers with ``MALLOC_TRIM_THRESHOLD_=65536``: the 0.2 generator spent a third of
    its time in the kernel, a Dask worker more. Serving them from the heap (mmap threshold
    32 MB, the most glibc allows; trimming above 256 MB) changes no result, only speed; peak
    memory stays that of the largest live set plus at most the trim threshold.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    mallopt(_M_TOP_PAD, 16 << 20)


_CONTEXT: dict = {}


def _init_local(context: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up
    tune_allocator()
    _CONTEXT["value"] = context


def _call_local(fn: Callable, task: Any) -> Any:
    return fn(_CONTEXT.get("value"), task)


class LocalPool(Executor):
    """A pool of ``jobs`` processes on this machine (``start_method``: fork, forkserver or
    spawn; forkserver where there is one by default)."""

    def __init__(self, jobs: int, start_method: str | None = None):
        self.workers = int(jobs)
        methods = multiprocessing.get_all_start_methods()
        if start_method is None or start_method not in methods:
            start_method = "forkserver" if "forkserver" in methods else None
        self.start_method = start_method

    def map(self, fn, tasks, context=None):
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context(self.start_method)
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_local,
                                   initargs=(context,))
        try:
            yield from _in_order(lambda t: pool.submit(_call_local, fn, t), tasks,
                                 2 * self.workers, lambda f: f.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _in_order(submit: Callable, tasks: Iterable, window: int, result: Callable) -> Iterator:
    """Submit ``tasks`` keeping ``window`` of them queued or running; yield their results in
    task order.

    A task is submitted whenever one finishes, not when the oldest does: a worker that is done
    early gets the next task instead of waiting for a slower one (a Dask worker is handed its
    tasks in advance, so waiting for the oldest left it idle). Finished results wait for their
    turn; at most ``2 * window`` tasks are submitted and not yet yielded, which bounds memory.
    ``submit(task)`` returns a future (``concurrent.futures`` or Dask: ``done()`` and
    ``add_done_callback()``).
    """
    finished: queue.SimpleQueue = queue.SimpleQueue()  # one item per finished task: a wake-up
    pending: deque = deque()  # submitted, not yet yielded, in task order
    it = iter(tasks)
    more = True

    def fill() -> None:
        nonlocal more
        while more and len(pending) < 2 * window and \
                sum(not f.done() for f in pending) < window:
            task = next(it, _END)
            if task is _END:
                more = False
                return
            future = submit(task)
            future.add_done_callback(finished.put)
            pending.append(future)

    try:
        fill()
        while pending:
            while not pending[0].done():
                # an item may be stale (a task seen done already): then check again; the
                # timeout only guards against a future that never reports
                with contextlib.suppress(queue.Empty):
                    finished.get(timeout=1.0)
                fill()
            value = result(pending.popleft())
            fill()
            yield value
    finally:
        for f in pending:
            with contextlib.suppress(Exception):
                f.cancel()


_END = object()


_THREAD = threading.local()


def _call_dask(fn: Callable, token: str, context: bytes, task: Any) -> Any:
    tune_allocator()
    # One unpickled copy per worker thread and map: threads must not share open files, and
    # the jobs of one map reuse what the context caches (open sources, measured bandwidths,
    # rooms) as a local pool's process does; a new map drops the previous one's copy.
    cached = getattr(_THREAD, "context", None)
    if cached is None or cached[0] != token:
        _THREAD.context = None  # let the old copy go (and close its files) before loading
        cached = _THREAD.context = (token, pickle.loads(context))
    return fn(cached[1], task)


_CLIENTS: dict[str, Any] = {}
_LOCAL_CONFIG = {
    # each worker's profiler would take the GIL every 10 ms to sample its computing thread's
    # stack, for a dashboard that is not opened here
    "distributed.worker.profile.enabled": False,
    # the loop's latency check (20 ms) and the system monitor (500 ms) wake the event loop
    # thread, which then waits for the GIL held by a computing thread; once a second is
    # enough to notice a blocked loop
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


_STARTING: dict[str, Future] = {}


class _InprocTeardown(logging.Filter):
    """Drops Dask's "Batched Comm Closed" traceback for an in-memory comm: a ``local:N``
    cluster's comms are closed while a message may still be on its way, which is how a cluster
    ends, not a fault; Dask logs it (with a traceback) after the cluster's silenced logs have
    come back, so it reached the terminal at random when a program ended."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Batched Comm Closed %r" and isinstance(record.args, tuple)
                    and record.args and repr(record.args[0]).startswith("<InProc"))


_INPROC_TEARDOWN = _InprocTeardown()


def in_process_cluster(scheduler: str | None) -> bool:
    """Whether ``scheduler`` is a ``local:N`` cluster, whose workers are threads of this
    process (they share its imports and compiled kernels)."""
    return scheduler is not None and scheduler.strip().startswith(LOCAL_PREFIX)


def start_cluster(scheduler: str | None) -> None:
    """Check ``scheduler`` and, for ``local:N``, start its cluster in the background, so that
    it comes up (about a second) while this process prepares its work; the stage's
    :func:`open_executor` then takes it over and raises what starting it raised.

    Parameters
    ----------
    scheduler : str or None
        As :func:`open_executor`'s. An address is only checked: reaching a running scheduler
        is quick, and one that cannot be reached should not hold up an error exit.

    Raises
    ------
    SettingError
        As :func:`check_scheduler`.
    """
    check_scheduler(scheduler)
    if not in_process_cluster(scheduler):
        return
    key = scheduler.strip()
    if key in _STARTING or _running_client(key) is not None:
        return
    future: Future = Future()

    def connect() -> None:
        try:
            future.set_result(_connect(key))
        except BaseException as exc:  # handed to whoever takes the cluster over
            future.set_exception(exc)

    _STARTING[key] = future
    threading.Thread(target=connect, name=f"start {key}", daemon=True).start()


def _running_client(scheduler: str):
    client = _CLIENTS.get(scheduler)
    return client if client is not None and client.status == "running" else None


def _client(scheduler: str):
    """One client per scheduler value for the life of the program (``pipeline``'s stages
    share a ``local:N`` cluster instead of starting one each)."""
    client = _running_client(scheduler)
    if client is not None:
        return client
    starting = _STARTING.pop(scheduler, None)
    client = starting.result() if starting is not None else _connect(scheduler)
    _CLIENTS[scheduler] = client
    return client


def _connect(scheduler: str):
    from distributed import Client, LocalCluster

    try:
        if in_process_cluster(scheduler):
            n = int(scheduler[len(LOCAL_PREFIX):])
            import dask

            # workers as threads of this process, talking to the scheduler and the client
            # in memory (inproc://): a process per worker costs more on a small machine
            # (each imports and loads the kernels again, a nanny is one more process to
            # heartbeat) than the GIL they share, which the kernels release, and a result
            # is handed over, not pickled through a loopback socket. No memory limit: every
            # in-process worker would measure the whole process against its share and pause
            # or spill for the others' memory; the executor's window of jobs in flight
            # bounds it instead.
            # addFilter keeps one copy of a filter however often a cluster is made
            logging.getLogger("distributed.batched").addFilter(_INPROC_TEARDOWN)
            with dask.config.set(_LOCAL_CONFIG):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=False,
                                       dashboard_address=None,
                                       memory_limit=0, silence_logs=logging.CRITICAL,
                                       # its HTTP server (always started) on a free local
                                       # port: not 8787, which another cluster may hold
                                       scheduler_kwargs={"dashboard": False,
                                                         "dashboard_address": "127.0.0.1:0"})
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler {scheduler} ({exc})") from exc
    return client


@atexit.register
def close_clients() -> None:
    """Close every Dask client (and ``local:N`` cluster) this process opened."""
    clients = list(_CLIENTS.values())
    for future in _STARTING.values():  # started but never taken over
        with contextlib.suppress(Exception):
            clients.append(future.result(timeout=60))
    _STARTING.clear()
    for client in clients:
        cluster = client.cluster
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
    _CLIENTS.clear()


class DaskExecutor(Executor):
    """Jobs on a Dask cluster (``local:N`` or a scheduler address)."""

    def __init__(self, scheduler: str):
        check_scheduler(scheduler)
        self.scheduler = scheduler.strip()
        self.client = _client(self.scheduler)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def map(self, fn, tasks, context=None):
        from distributed import KilledWorker

        blob = pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
        name = getattr(fn, "__name__", "job")
        token = _next_key()
        # a task, not scattered data: Dask keeps one copy of a result once the jobs that
        # need it have fetched it, and scattered data lost with that copy's worker cancels
        # every job left ("lost dependencies"), where a task's result is made again
        shared = self.client.submit(_context, blob, pure=False, key=f"context-{token}")

        submitted: dict = {}  # key -> task, to run a task again

        def launch(task):
            return self.client.submit(_call_dask, fn, token, shared, task, pure=False,
                                      retries=RETRIES, key=f"{name}-{_next_key()}")

        def submit(task):
            future = launch(task)
            submitted[future.key] = task
            return future

        def result(future):
            task = submitted.pop(future.key)
            try:
                for attempt in range(RETRIES + 1):
                    try:
                        return future.result()
                    except CancelledError as exc:
                        # nothing here cancels a job it still waits for: the scheduler forgot
                        # it (seen when a killed worker took data the job needed, or its
                        # result as it was fetched). A job depends on its task alone: run it
                        # again.
                        if attempt == RETRIES:
                            raise ClusterError(f"Dask job {future.key} was lost with its "
                                               f"worker {RETRIES + 1} times ({exc})") from exc
                        future = launch(task)
            except KilledWorker as exc:
                raise ClusterError(f"Dask job {future.key} killed every worker that ran it "
                                   f"({exc})") from exc
            except OSError as exc:
                raise ClusterError(f"lost the Dask scheduler {self.scheduler} ({exc})") from exc

        # the worker count may change during a run: keep every current worker busy twice over
        window = max(2, 2 * self.workers)
        try:
            yield from _in_order(submit, tasks, window, result)
        finally:
            with contextlib.suppress(Exception):
                self.client.cancel([shared])


def _context(blob: bytes) -> bytes:
    return blob


def _next_key() -> str:
    import uuid

    return uuid.uuid4().hex


def open_executor(jobs: int = 1, scheduler: str | None = None, *,
                  start_method: str | None = None) -> Executor:
    """The executor of a stage: Dask when ``scheduler`` is given, else ``jobs`` processes.

    Parameters
    ----------
    jobs : int
        Local processes (1: in this process). Ignored when ``scheduler`` is given.
    scheduler : str, optional
        ``"local:N"`` or a Dask scheduler address.
    start_method : str, optional
        How local processes start (``"fork"``, ``"forkserver"``, ``"spawn"``).

    Raises
    ------
    SettingError
        ``jobs`` below 1, a malformed ``scheduler``, or Dask not installed.
    ClusterError
        The scheduler cannot be reached.
    """
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if int(jobs) < 1:
        raise SettingError("jobs", f"must be at least 1 (got {jobs})")
    if int(jobs) == 1:
        return Executor()
    return LocalPool(int(jobs), start_method)
