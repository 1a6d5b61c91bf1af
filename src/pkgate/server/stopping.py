"""A bounded stop for `pkgate serve`: no worker can keep the gateway from stopping.

Granian waits for its workers without end unless told otherwise, and a granian worker can miss or
hang on its stop signal (edge/app.py tells of one such window). So granian is given
`server.stop_timeout` to kill a worker that has not stopped (`workers_kill_timeout`), and a second
before that, `StopWatch` has the workers still running print every thread's stack into the log
(their SIGUSR1 faulthandler): a stuck stop says where it was stuck. Killing a worker loses nothing:
every request it answered was spooled before the answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("pkgate.server")  # the supervisor's one logger, whichever module logs

_Handler = Callable[[int, FrameType | None], Any]


def workers() -> list[int]:
    """This process's granian workers: its children started by multiprocessing's spawn (not its
    resource tracker). Linux's /proc; empty where that is not available."""
    found = []
    for task in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for pid in task.read_text().split():
                with contextlib.suppress(OSError):
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(int(pid))
    return found


class StopWatch:
    """Wraps granian's SIGTERM/SIGINT handlers: on the first stop signal, a timer shows the stacks
    of the workers still running just before granian kills them."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        """As a granian startup hook: after granian installed its handlers, before any worker."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if callable(previous):
                signal.signal(sig, self._wrap(previous))

    def _wrap(self, previous: _Handler) -> _Handler:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            previous(signum, frame)
            if self._timer is None:
                self._timer = threading.Timer(max(self.timeout - 1, 0.5), self.show_stuck)
                self._timer.daemon = True
                self._timer.start()

        return on_stop

    def show_stuck(self) -> list[int]:
        """Ask the workers still running for their stacks; their pids."""
        stuck = workers()
        for pid in stuck:
            log.warning("worker %d has not stopped; its stacks follow, then it is killed", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        return stuck


class Waking(threading.Event):
    """The event granian's supervisor loop waits on (`main_loop_interrupt`), waited on in slices.

    Any thread of a process whose mask allows it may take the process's signal; the supervisor has
    several (granian's watchers, the loader, DuckDB's). Taken by one of them, a stop signal only
    marks CPython's handler as due: it runs when the main thread next runs Python code, which a main
    thread blocked for good in `Event.wait()` never does, so the gateway never stopped (seen in CI:
    a SIGTERM'd `pkgate serve` still waiting in granian's `_serve_loop` 60 s later). A slice of
    `SLICE` seconds lets the handler run within it.
    """

    SLICE = 0.25

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            return super().wait(timeout)
        while not super().wait(self.SLICE):
            pass
        return True
