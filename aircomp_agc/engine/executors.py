"""Where sweep points are computed: in-process, on local processes, or on a Dask cluster.

Every executor has one job, :meth:`Executor.imap_unordered`: apply a picklable top-level
function to items and yield the results as they complete. Results never depend on the
executor (each point seeds itself, see :mod:`aircomp_agc.engine.seeds`); the executor only
decides where and in which order the work runs.

- :class:`SerialExecutor` -- in this process, in order (debugging, tiny sweeps).
- :class:`ProcessExecutor` -- the default: ``concurrent.futures.ProcessPoolExecutor`` with
  one worker per core, started with ``spawn`` (safe with threads, TensorFlow and macOS).
  Workers end by themselves within :data:`PARENT_POLL_SECONDS` when the driver dies
  without stopping them (``kill -9``).
  Items are sent in chunks sized from measured item times (about 0.1 s of work per
  chunk), so thousands of cheap points do not drown in inter-process round trips.
- :class:`DaskExecutor` -- Dask distributed, on an existing scheduler (``address``) or a
  :class:`distributed.LocalCluster` it starts and stops. Dask reschedules the tasks of a
  worker that dies; each item's result is still yielded exactly once.

Dask is optional: ``pip install 'aircomp-agc[dask]'``.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._checks import check_choice, check_int

__all__ = [
    "EXECUTORS",
    "PARENT_POLL_SECONDS",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "available_cores",
    "make_executor",
]

#: Executor names accepted by :func:`make_executor` and ``aircomp-agc run --executor``.
EXECUTORS = ("serial", "processes", "dask")

# A chunk aims at this much work, so that per-task overhead (~0.1-1 ms) stays below 1%.
_CHUNK_SECONDS = 0.1
_MAX_CHUNK = 256


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _call_chunk(fn: Callable[[Any], Any], items: list[Any]) -> tuple[list[Any], float]:
    """Worker side: apply ``fn`` to a chunk; return the results and the seconds spent."""
    start = time.perf_counter()
    return [fn(item) for item in items], time.perf_counter() - start


#: Seconds between two checks, in a worker, that the process that started it is alive.
PARENT_POLL_SECONDS = 0.25


def _worker_init(parent_pid: int) -> None:
    """Run in every worker process when it starts.

    Ctrl-C reaches the whole process group; only the driver reacts to it (and then stops
    the workers itself), so workers ignore it. If the driver dies without stopping them
    (``kill -9``, out of memory), nothing else would: a daemon thread polls the parent's
    process id and ends the worker as soon as it changes (the orphan was adopted).
    Polling ``getppid`` is portable and, unlike Linux's ``PR_SET_PDEATHSIG``, is not
    tied to the lifetime of the thread that created the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_if_orphaned(parent_pid)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="aircomp-agc-parent-watch", daemon=True
    ).start()


def _exit_if_orphaned(parent_pid: int) -> None:
    if os.getppid() != parent_pid:
        os._exit(1)  # no cleanup to do: the results belong to a driver that is gone


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        _exit_if_orphaned(parent_pid)


class Executor:
    """Base class: run ``fn`` over items and yield results as they complete.

    Executors are context managers; resources (pools, clusters) live between ``__enter__``
    and ``__exit__``. A ``KeyboardInterrupt`` while iterating cancels the pending work.
    """

    name = "executor"
    workers = 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release workers; safe to call twice."""

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the executor."""
        return {"name": self.name, "workers": self.workers}


class SerialExecutor(Executor):
    """Compute items one after the other in this process."""

    name = "serial"

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


class _FutureExecutor(Executor):
    """Shared windowed, adaptively chunked submission loop over a futures API."""

    def _submit(self, fn: Callable, chunk: list[Any]) -> Any:
        raise NotImplementedError

    def _wait_first(self, pending: set) -> tuple[set, set]:
        raise NotImplementedError

    def _cancel(self, pending: set) -> None:
        raise NotImplementedError

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        todo = list(items)
        todo.reverse()  # pop() from the end keeps submission in the given order
        window = 2 * self.workers
        seconds = count = 0.0
        pending: set = set()
        try:
            while todo or pending:
                while todo and len(pending) < window:
                    per_item = seconds / count if count else math.inf
                    size = (
                        1 if per_item == math.inf else round(_CHUNK_SECONDS / max(per_item, 1e-9))
                    )
                    # Never starve other workers at the end of the sweep.
                    size = max(1, min(size, _MAX_CHUNK, math.ceil(len(todo) / self.workers)))
                    chunk = [todo.pop() for _ in range(min(size, len(todo)))]
                    pending.add(self._submit(fn, chunk))
                done, pending = self._wait_first(pending)
                for fut in done:
                    results, spent = self._result(fut)
                    seconds += spent
                    count += len(results)
                    yield from results
        except BaseException:
            self._cancel(pending)
            raise

    def _result(self, fut: Any) -> tuple[list[Any], float]:
        return fut.result()


class ProcessExecutor(_FutureExecutor):
    """Local worker processes (``spawn``), one per core by default.

    Parameters
    ----------
    workers : int or None
        Number of processes (``>= 1``); default: every core (:func:`available_cores`).
    """

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        if workers is None:
            workers = available_cores()
        self.workers = check_int("workers", workers, low=1, owner="ProcessExecutor")
        self._pool = None

    def _ensure_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _submit(self, fn: Callable, chunk: list[Any]) -> Any:
        return self._ensure_pool().submit(_call_chunk, fn, chunk)

    def _wait_first(self, pending: set) -> tuple[set, set]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, not_done = wait(pending, return_when=FIRST_COMPLETED)
        return set(done), set(not_done)

    def _cancel(self, pending: set) -> None:
        for fut in pending:
            fut.cancel()
        if self._pool is not None and any(not f.done() for f in pending):
            # Running chunks cannot be cancelled; stop their processes instead of waiting.
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(_FutureExecutor):
    """Dask distributed: an existing scheduler, or a local cluster started here.

    Parameters
    ----------
    address : str or None
        Scheduler address (``"tcp://host:8786"``). ``None`` starts a
        :class:`distributed.LocalCluster` with ``workers`` single-threaded worker processes.
    workers : int or None
        Local cluster size (default :func:`available_cores`); with ``address``, only the
        submission window (default: the cluster's thread count when connected).
    """

    name = "dask"

    def __init__(self, address: str | None = None, *, workers: int | None = None) -> None:
        if workers is not None:
            workers = check_int("workers", workers, low=1, owner="DaskExecutor")
        if address is not None and (not isinstance(address, str) or not address):
            raise ValueError(
                "The 'scheduler' parameter must be a Dask scheduler address such as "
                f"'tcp://127.0.0.1:8786'; got {address!r}."
            )
        self.address = address
        self.workers = workers or available_cores()
        self._requested_workers = workers
        self._client = None
        self._cluster = None

    def _ensure_client(self):
        if self._client is None:
            try:
                import distributed
            except ImportError:
                raise ImportError(
                    "The dask executor needs Dask distributed: pip install 'aircomp-agc[dask]'"
                ) from None
            if self.address is None:
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                self._client = distributed.Client(self._cluster)
            else:
                try:
                    self._client = distributed.Client(self.address, timeout="10s")
                except OSError as exc:
                    raise ValueError(
                        f"Cannot reach the Dask scheduler at {self.address!r} ({exc})."
                    ) from None
                if self._requested_workers is None:
                    threads = sum(self._client.nthreads().values())
                    self.workers = max(1, threads)
        return self._client

    @property
    def client(self):
        """The ``distributed.Client`` (connects or starts the local cluster on first use)."""
        return self._ensure_client()

    def _submit(self, fn: Callable, chunk: list[Any]) -> Any:
        # pure=False: a chunk is submitted once per run, and resubmission after a worker
        # dies is Dask's job (it recomputes lost tasks), never ours.
        return self._ensure_client().submit(_call_chunk, fn, chunk, pure=False)

    def _wait_first(self, pending: set) -> tuple[set, set]:
        import distributed

        # as_current: the run may be driven from a thread without a default client.
        with self._client.as_current():
            done, not_done = distributed.wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done), set(not_done)

    def _cancel(self, pending: set) -> None:
        if self._client is not None and pending:
            self._client.cancel(list(pending))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workers": self.workers,
            "scheduler": self.address or "local-cluster",
        }


def make_executor(
    kind: str = "processes",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    local_cluster: bool = False,
) -> Executor:
    """Build an executor by name.

    Parameters
    ----------
    kind : {"serial", "processes", "dask"}
    workers : int or None
        Processes (``processes``) or local-cluster workers (``dask``); ignored by ``serial``.
    scheduler : str or None
        Dask scheduler address (``dask`` only).
    local_cluster : bool
        Start a local Dask cluster (``dask`` only; exclusive with ``scheduler``).

    Raises
    ------
    ValueError
        Unknown ``kind``; ``scheduler``/``local_cluster`` without ``dask``, both together, or
        ``dask`` with neither.
    """
    kind = check_choice("executor", kind, EXECUTORS)
    if kind != "dask" and (scheduler is not None or local_cluster):
        raise ValueError(
            "The 'scheduler' and 'local_cluster' options need executor 'dask'; got executor "
            f"{kind!r}."
        )
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if (scheduler is None) == (not local_cluster):
        raise ValueError(
            "The dask executor needs exactly one of a scheduler address (--scheduler ADDRESS) "
            f"and a local cluster (--local-cluster); got scheduler={scheduler!r}, "
            f"local_cluster={local_cluster!r}."
        )
    return DaskExecutor(scheduler, workers=workers)
