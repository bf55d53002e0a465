"""The readers' second thread: a ``Walker`` runs, in order, the work a scan hands it (a batch's
gather and layer walk, which read only the file), while the scan's own thread finds the next
batch and classifies the one before; ``Ahead`` is one piece of that work and its result.  Used by
the pcap, pcapng and Netmon readers."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class Ahead:
    """``fn(*args)`` run by a ``Walker``: ``result()`` waits for it and gives its value or raises
    its exception."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as e:  # noqa: BLE001 - handed to result(), on the thread that waits
            self._error = e
        finally:
            self._fn = self._args = None  # type: ignore[assignment]
            self._done.set()

    def wait(self) -> None:
        """Until ``fn`` has returned (its value or error left unread)."""
        self._done.wait()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Walker:
    """One thread that runs the work handed to it (``submit``) in order, for the length of a scan:
    one thread start a scan, not one a batch (a start waits for the new thread to take the
    interpreter lock, which the other thread may hold for a while).  A daemon thread: a scan
    left half-way never holds up the exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Ahead | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="tracemon-pcap", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.run()
            del job  # (idle, it holds nothing: an error's traceback holds the file's map)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Ahead:
        job = Ahead(fn, args)
        self._jobs.put(job)
        return job

    def close(self) -> None:
        """End the thread once the work handed to it is done, and wait for it."""
        self._jobs.put(None)
        self._thread.join()
