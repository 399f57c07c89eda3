"""The watchdog: no rank waits for the others for ever.

A collective completes only when every rank takes part. A rank that dies by a signal or exits
with an error is noticed by the launcher (mpiexec ends the job at once), and one that raises is
ended by gpugrad.distributed's exception hook; but a rank that hangs, or leaves early without an
error, would leave the others waiting. So every wait is watched, as PyTorch's NCCL watchdog does:

* ``with watchdog.blocking("all_reduce", nbytes): request.Wait()`` marks the main thread as
  waiting on the others (MPI: a blocking call, the GIL released);
* ``watchdog.track("all_reduce", nbytes, event)`` watches GPU work queued on a stream (NCCL),
  whose ``event.done`` turns true once it has run.

A thread of its own wakes a few times a second and, when a wait has lasted longer than
``timeout`` seconds, calls ``on_timeout(message)`` (which aborts the whole job). The hot path
pays two attribute stores per wait.
"""
from __future__ import annotations

import threading
import time

__all__ = ["Watchdog"]


def _describe(what, nbytes):
    if nbytes is None:
        return what
    size = f"{nbytes} bytes" if nbytes < 2**10 else (
        f"{nbytes / 2**10:.4g} KiB" if nbytes < 2**20 else f"{nbytes / 2**20:.4g} MiB")
    return f"{what} of {size}"


class _Blocked:
    __slots__ = ("_dog", "_what", "_nbytes")

    def __init__(self, dog, what, nbytes):
        self._dog, self._what, self._nbytes = dog, what, nbytes

    def __enter__(self):
        self._dog._blocked = (self._what, self._nbytes, time.monotonic())
        return self

    def __exit__(self, *exc):
        self._dog._blocked = None
        return False


class Watchdog:
    """Calls ``on_timeout(message)`` when a watched wait exceeds ``timeout`` seconds."""

    def __init__(self, timeout: float, on_timeout):
        if not timeout > 0:
            raise ValueError(f"the distributed timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self._on_timeout = on_timeout
        self._blocked = None            # (what, nbytes, since) while the main thread waits
        self._tracked = []              # [(what, nbytes, since, event)] of queued GPU work
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpugrad-distributed-watchdog", daemon=True)
        self._thread.start()

    def blocking(self, what: str, nbytes: int | None = None) -> _Blocked:
        """A context manager around a blocking wait on the other ranks."""
        return _Blocked(self, what, nbytes)

    def track(self, what: str, nbytes: int | None, event) -> None:
        """Watch queued GPU work until ``event.done``."""
        with self._lock:
            self._tracked.append((what, nbytes, time.monotonic(), event))

    def overdue(self, now: float | None = None) -> str | None:
        """The description of a wait that has lasted longer than the timeout, if any."""
        now = time.monotonic() if now is None else now
        blocked = self._blocked
        if blocked is not None and now - blocked[2] > self.timeout:
            return _describe(blocked[0], blocked[1])
        with self._lock:
            self._tracked = [t for t in self._tracked if not t[3].done]
            for what, nbytes, since, _ in self._tracked:
                if now - since > self.timeout:
                    return _describe(what, nbytes)
        return None

    def _run(self):
        interval = min(1.0, self.timeout / 4)
        while not self._stop.wait(interval):
            late = self.overdue()
            if late is not None:
                self._on_timeout(late)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
