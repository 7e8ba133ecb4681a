"""Several processes (Daphne, rq workers) write their own figures; a scrape sums them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring.tests.conftest import scrape

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

# A process of the fleet: counts calls, holds one call live, and ends normally or is killed.
PROCESS = """
import os, sys
from monitoring import metrics, multiprocess
multiprocess.process_started()
metrics.CALLS.labels("inbound", "completed").inc(int(sys.argv[1]))
metrics.call_started(int(sys.argv[1]), stt="s", llm="l", tts="t")
metrics.phrase_cache(hit=True)
if sys.argv[2] == "killed":
    os._exit(0)  # no clean exit: its live gauge stays until a later process tidies it
"""


def run(directory: Path, *args: str) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", PROCESS, *args], cwd=ROOT, env=env, check=True)


def test_two_processes_counters_are_summed(tmp_path, client, metrics_on, monkeypatch):
    run(tmp_path, "2", "exits")
    run(tmp_path, "3", "exits")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(client)
    key = ("voice_calls_total", (("direction", "inbound"), ("outcome", "completed")))
    assert samples[key] == 5
    assert samples[("voice_phrase_cache_total", (("result", "hit"),))] == 2
    # Both processes ended normally: no call is in progress anywhere.
    assert not [k for k in samples if k[0] == "voice_calls_in_progress"]


def test_a_killed_process_live_gauge_is_dropped_by_the_next_process(
    tmp_path, client, metrics_on, monkeypatch
):
    run(tmp_path, "1", "killed")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    in_progress = [v for k, v in scrape(client).items() if k[0] == "voice_calls_in_progress"]
    assert in_progress == [1]
    run(tmp_path, "4", "exits")  # a new process starts: the dead one's live gauge goes
    samples = scrape(client)
    assert not [k for k in samples if k[0] == "voice_calls_in_progress"]
    # Its counters stay: what it counted happened.
    key = ("voice_calls_total", (("direction", "inbound"), ("outcome", "completed")))
    assert samples[key] == 5


def test_clear_empties_the_directory_for_a_fleet_start(tmp_path, monkeypatch):
    from monitoring import multiprocess

    run(tmp_path, "1", "exits")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert multiprocess.clear() > 0
    assert list(tmp_path.glob("*.db")) == []


def test_clear_metrics_command(tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    run(tmp_path, "1", "exits")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    out = StringIO()
    call_command("clear_metrics", stdout=out)
    assert "removed" in out.getvalue() and list(tmp_path.glob("*.db")) == []
