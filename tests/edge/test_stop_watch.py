"""`watch_stop`: a worker hung in its stop handling with the GIL held (as granian's signal callback
hangs) still ends, and its log says where it was."""

from __future__ import annotations

import subprocess
import sys
import time

CHILD = """
import ctypes, os, signal
from pkgate.edge.app import watch_stop
watch_stop(1.0)
os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: the watchdog is armed
print("armed", flush=True)
ctypes.PyDLL(None).pause()  # hung for good, the GIL held: no Python thread can run
"""


def test_a_worker_hung_after_a_stop_signal_ends_with_its_stacks() -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert done.stdout == "armed\n"
    assert done.returncode == 1, done.stderr  # faulthandler's _exit(1), not the signal's default
    assert "Timeout (0:00:01)!" in done.stderr
    assert 'File "<string>", line 7' in done.stderr  # the main thread's stack: where it hung
    assert took >= 1.0
