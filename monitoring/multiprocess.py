"""prometheus-client's multiprocess mode: each process (Daphne, rq worker, a worker's job
horse) writes its metrics to files in PROMETHEUS_MULTIPROC_DIR and a scrape sums them.

The directory must be set in the environment before the process starts (the library reads it
at import) and emptied when the whole fleet (re)starts: its counters would otherwise carry
over from the previous deployment. Within a running fleet a process that starts (a restarted
Daphne, a new worker) must not empty it, as the others' counters live there; it only tidies the
live gauges (calls in progress, breaker state) of processes that are gone.
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

_PID = re.compile(r"_(\d+)\.db$")


def directory() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    return Path(value) if value else None


def registry() -> CollectorRegistry | None:
    """A registry that sums every process's files; None when not in multiprocess mode."""
    if directory() is None:
        return None
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started() -> None:
    """At a process's start: drop the live gauges of processes that are gone, and have this
    process's dropped when it exits normally."""
    path = directory()
    if path is None:
        return
    path.mkdir(parents=True, exist_ok=True)
    gone = {int(m.group(1)) for f in path.glob("gauge_live*.db") if (m := _PID.search(f.name))}
    for pid in gone:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(path))
    atexit.register(multiprocess.mark_process_dead, os.getpid(), str(path))


def clear() -> int:
    """Empty the directory (the fleet is starting). Returns how many files were removed."""
    path = directory()
    if path is None:
        return 0
    removed = 0
    for file in path.glob("*.db"):
        file.unlink(missing_ok=True)
        removed += 1
    return removed
