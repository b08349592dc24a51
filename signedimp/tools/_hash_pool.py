"""Two hashing threads fed while the work is still being found: ``HashPool``.

hashlib and ``os.read`` release the GIL, so a second thread uses the second core. Work is
handed over through a ``queue.SimpleQueue`` (C, no per-item future or lock of Python code), so
the per-file cost stays small next to hashing a 2 KB file, and items can be submitted while a
tree is still being walked: hashing overlaps the walk instead of waiting for it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Callable, Iterable
    from typing import Any

#: Hashing threads: hashlib and os.read release the GIL, so a second thread uses the second core.
HASH_THREADS = 2
#: Fewer items than this are hashed in the calling thread (starting threads would cost more).
MIN_PARALLEL = 64
#: Jobs of at least this many items show progress (when progress is on).
PROGRESS_MIN = 1000

_STOP = None


class HashPool:
    """``fn(item)`` for every submitted item, computed by ``threads`` threads; results in order.

    ``submit`` items as they are found, then ``results()`` waits and returns them in submission
    order, raising the exception of the first item (in that order) whose ``fn`` raised; items
    after a failed one are skipped. Use as a context manager so that the threads always end.
    """

    def __init__(self, fn: Callable[[Any], Any], threads: int = HASH_THREADS, progress: bool = False) -> None:
        self._fn = fn
        self._threads_wanted = max(1, threads)
        self._progress = progress
        self._pending: list[Any] = []  # items held back until there are enough to start threads
        self._count = 0
        self._out: dict[int, tuple[bool, Any]] = {}
        self._first_error = sys.maxsize
        self._queue: Any = None
        self._lock: Any = None
        self._workers: list[Any] = []

    def __enter__(self) -> HashPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, item: Any) -> None:
        """Queue ``item`` (at the next index)."""
        if self._queue is None:
            self._pending.append(item)
            if len(self._pending) >= MIN_PARALLEL and self._threads_wanted > 1:
                self._start()
            return
        self._queue.put((self._count, item))
        self._count += 1

    def _start(self) -> None:
        import queue
        import threading

        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        for item in self._pending:
            self._queue.put((self._count, item))
            self._count += 1
        self._pending = []
        for number in range(self._threads_wanted):
            worker = threading.Thread(target=self._work, name=f"signedimp-hash-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _work(self) -> None:
        get, fn, out = self._queue.get, self._fn, self._out
        while True:
            job = get()
            if job is _STOP:
                return
            index, item = job
            if index > self._first_error:  # an earlier item failed: its error is what is raised
                continue
            try:
                out[index] = (True, fn(item))
            except BaseException as exc:  # re-raised in the caller's thread, at its place
                out[index] = (False, exc)
                with self._lock:
                    self._first_error = min(self._first_error, index)

    def results(self) -> list[Any]:
        """Every result, in submission order (waits for the threads)."""
        if self._queue is None:  # a small job: in this thread, no threads started
            items, self._pending = self._pending, []
            report = _Progress(len(items)) if self._progress and len(items) >= PROGRESS_MIN else None
            values = []
            for done, item in enumerate(items, 1):
                values.append(self._fn(item))
                if report is not None:
                    report.update(done)
            if report is not None:
                report.close()
            return values
        total = self._count
        self._stop_workers()
        report = _Progress(total) if self._progress and total >= PROGRESS_MIN else None
        for worker in self._workers:
            while worker.is_alive():
                worker.join(0.1 if report is not None else None)
                if report is not None:
                    report.update(len(self._out))
        self._workers = []
        if report is not None:
            report.update(total)
            report.close()
        if self._first_error < total:
            raise self._out[self._first_error][1]
        out = self._out
        return [out[index][1] for index in range(total)]

    def _stop_workers(self) -> None:
        if self._queue is not None:
            for _ in self._workers:
                self._queue.put(_STOP)

    def close(self) -> None:
        """End the threads (skipping work not yet started): after an error, or when done."""
        if not self._workers:
            return
        self._first_error = -1  # nothing more is worth computing
        self._stop_workers()
        for worker in self._workers:
            worker.join()
        self._workers = []


#: Whether long hashing jobs report progress on stderr (the CLI turns it on for a terminal).
_progress = {"enabled": False}


def set_progress(enabled: bool) -> None:
    """Report progress of long hashing jobs on stderr (``signedimp sign``/``verify`` on a TTY)."""
    _progress["enabled"] = bool(enabled)


def progress_enabled() -> bool:
    return _progress["enabled"]


def map_in_threads(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` computed by ``HASH_THREADS`` threads (see ``HashPool``)."""
    with HashPool(fn, progress=progress_enabled()) as pool:
        for item in items:
            pool.submit(item)
        return pool.results()


class _Progress:
    """``hashed N/TOTAL files`` on one stderr line, redrawn at most every 0.1 s."""

    def __init__(self, total: int) -> None:
        import time

        self._clock = time.monotonic
        self._total = total
        self._next = 0.0
        self._shown = -1

    def update(self, done: int) -> None:
        now = self._clock()
        if done != self._shown and (now >= self._next or done == self._total):
            self._next = now + 0.1
            self._shown = done
            sys.stderr.write(f"\rsignedimp: hashed {done}/{self._total} files")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
