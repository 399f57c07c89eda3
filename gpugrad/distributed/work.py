"""``Work``: a collective in flight (PyTorch's ``Work``), returned by the non-blocking calls.

``wait()`` makes its result usable: with MPI it blocks until the collective is done; with NCCL it
orders the current CUDA stream after it (the host does not wait). Then the finishers run, in
order: the 1/N of a mean, the copy back into a tensor that was not contiguous, ...
"""
from __future__ import annotations

__all__ = ["Work", "DoneWork"]


class Work:
    """``wait`` completes the collective; ``poll`` (optional) lets MPI progress it without
    blocking; ``then(fn)`` adds a finisher run once, after the wait."""

    __slots__ = ("_wait", "_poll", "_finishers", "_done")

    def __init__(self, wait, poll=None):
        self._wait, self._poll = wait, poll
        self._finishers = []
        self._done = False

    def then(self, fn) -> "Work":
        self._finishers.append(fn)
        return self

    def poll(self) -> None:
        """Give the transport a chance to move the data now (MPI progresses only inside calls)."""
        if self._poll is not None and not self._done:
            self._poll()

    def wait(self) -> None:
        if self._done:
            return
        self._wait()
        self._done = True
        for fn in self._finishers:
            fn()

    def is_completed(self) -> bool:
        return self._done

    def __repr__(self):
        return f"Work({'done' if self._done else 'in flight'})"


def _nothing():
    return None


class DoneWork(Work):
    """The Work of a collective that had nothing to wait for (a job of one process)."""

    __slots__ = ()

    def __init__(self):
        super().__init__(_nothing)
