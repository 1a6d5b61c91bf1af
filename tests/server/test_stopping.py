"""`Waking`: the supervisor's main loop still stops when its stop signal is taken by another thread."""

from __future__ import annotations

import subprocess
import sys
import time

# The main thread blocks SIGTERM after starting a thread, so the kernel can only hand the signal to
# that thread, as it may when the main thread is busy with another signal: CPython then only marks
# the handler as due, for the main thread to run.
CHILD = """
import signal, sys, threading, time
from pkgate.server.stopping import Waking
event = Waking() if sys.argv[1] == "waking" else threading.Event()
signal.signal(signal.SIGTERM, lambda *_: event.set())
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
print("waiting", flush=True)
event.wait()
print("stopped", flush=True)
"""


def _stop(kind: str, timeout: float) -> tuple[str, float]:
    """SIGTERM the child once it waits; (its output, seconds until it ended) or TimeoutExpired."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "waiting\n"
        time.sleep(0.2)  # into the wait
        sent = time.monotonic()
        proc.terminate()
        out, _ = proc.communicate(timeout=timeout)
        return out, time.monotonic() - sent
    finally:
        proc.kill()
        proc.communicate()


def test_a_stop_signal_another_thread_takes_still_ends_the_wait() -> None:
    out, took = _stop("waking", timeout=10)
    assert out == "stopped\n"
    assert took < 5  # a slice is 0.25 s; generous for a loaded machine


def test_a_plain_event_would_wait_for_ever() -> None:
    """What `Waking` is for: the same child with granian's own `threading.Event` does not stop."""
    try:
        _stop("plain", timeout=3)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("a plain Event.wait() ran the handler: Waking would not be needed")
