"""The one shape of the server's background threads: start, wake, stop, join."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import ClassVar


class Worker(ABC):
    """A daemon thread running ``run`` until ``stop``.

    ``_cond`` guards the worker's own state and wakes the thread; ``_stopping`` is
    set under it by ``stop``, which then waits for ``run`` to return.
    """

    thread_name: ClassVar[str]
    stop_timeout: ClassVar[float] = 30.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to finish its work and stop; wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.stop_timeout if timeout is None else timeout)

    def _sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds`` or until ``stop``; whether it is stopping."""
        with self._cond:
            return self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    @abstractmethod
    def run(self) -> None:
        """The thread's loop; return once ``_stopping`` is set and the work is done."""
