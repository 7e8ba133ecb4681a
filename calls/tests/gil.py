"""Whether code on the event loop lets go of the GIL: while it does, a busy thread (a database
thread running the ORM) takes the GIL for up to a switch interval, and the loop waits."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


def others_ran_during(work: Callable[[], object], times: int = 300) -> int:
    """How often a busy thread got to run while `work` ran `times` times on this thread.

    The switch interval is made long (0.2 s) for the measure, so the busy thread cannot be
    let in by a timed switch within the few milliseconds `work` takes: only a call that lets go
    of the GIL itself lets it run. 0 means `work` kept the GIL throughout.
    """
    interval = sys.getswitchinterval()
    ran = [0]
    stop = False

    def busy() -> None:
        while not stop:
            ran[0] += 1

    sys.setswitchinterval(0.2)
    thread = threading.Thread(target=busy, daemon=True)
    try:
        thread.start()
        time.sleep(0.01)  # the busy thread runs; this one waits its turn for the GIL back
        work()  # any first-call set-up out of the way
        before = ran[0]
        for _ in range(times):
            work()
        return ran[0] - before
    finally:
        stop = True
        thread.join()
        sys.setswitchinterval(interval)
