"""The servers bench.call_latency measures, and their processes' CPU and memory: one web process,
the scale-out set-up (voiceapp.scaleout), or the Pipecat reference server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from voiceapp.scaleout import free_port, start_logged

TTS_MS_PER_WORD = 60  # the fake TTS's audio per word, as the Pipecat anchor's
CLK_TCK = os.sysconf("SC_CLK_TCK")


def add_server_arguments(parser, env_example: str) -> None:
    """The product server's options, alike in every benchmark: `--server-env` and `--server`."""
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"Extra environment for the product's processes (e.g. {env_example}).",
    )
    parser.add_argument(
        "--server",
        choices=("daphne", "uvicorn"),
        default="daphne",
        help="The product's ASGI server (WEB_SERVER): Daphne, or uvicorn with uvloop.",
    )


def server_extra(args) -> dict[str, str]:
    """The environment `--server` and `--server-env` add to the product's processes."""
    return {"WEB_SERVER": args.server, **dict(item.split("=", 1) for item in args.server_env)}


def server_env_note(extra: dict[str, str]) -> str:
    """`extra` for a benchmark's title (the server itself is named there already)."""
    shown = " ".join(f"{k}={v}" for k, v in extra.items() if k != "WEB_SERVER")
    return f"; server env {shown}" if shown else ""


def _popen(command: list[str], env: dict[str, str], log_path: Path, cpu: int | None):
    return start_logged(command, env=env, log_path=log_path, cpu=cpu, append=False)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_answering(
    proc: subprocess.Popen, url: str, log_path: Path, *, post: bool = False, timeout: float = 90
) -> None:
    """Until `url` answers 200 (GET, or POST for the anchor's voice webhook)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{_tail(log_path)}")
        try:
            response = httpx.post(url, timeout=2) if post else httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer in {timeout:.0f}s:\n{_tail(log_path)}")


class Target:
    """A server under test: where callers go, and the processes whose CPU and memory count."""

    label = ""
    has_records = False  # the product's database holds its Calls

    def __init__(self) -> None:
        self.url = ""
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def exited(self) -> str:
        gone = [f"pid {p.pid} ({p.returncode})" for p in self.procs if p.poll() is not None]
        return ", ".join(gone)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for proc in self.procs:
            _stop(proc)

    def log_errors(self) -> list[str]:
        return [line for path in self.logs for line in _log_errors(path)]


class OneServer(Target):
    """The web process as production starts it: `manage.py serve` with the project's timeouts
    (on the ASGI server its env's WEB_SERVER names: Daphne by default, or uvicorn)."""

    label = "product"
    has_records = True

    def __init__(self, env: dict[str, str], log_dir: Path, cpu: int | None) -> None:
        super().__init__()
        self.env, self.cpu = env, cpu
        self.logs = [log_dir / "server.log"]

    def start(self) -> None:
        port = free_port()
        command = [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port)]
        proc = _popen(command, self.env, self.logs[0], self.cpu)
        self.procs, self.url = [proc], f"http://127.0.0.1:{port}"
        try:
            _wait_answering(proc, self.url + "/healthz", self.logs[0])
        except BaseException:
            self.stop()
            raise


class ScaledProduct(Target):
    """K Daphne processes behind HAProxy with an rq worker and the cron (voiceapp.scaleout)."""

    label = "product"
    has_records = True

    def __init__(self, env: dict[str, str], log_dir: Path, processes: int) -> None:
        super().__init__()
        from voiceapp.scaleout import ScaleOut

        self.setup = ScaleOut(
            env=env,
            log_dir=log_dir,
            processes=processes,
            pin=True,
            tunnel_seconds=7200,
            close_seconds=20,
        )
        self.logs = [log_dir / f"web{i + 1}.log" for i in range(processes)]

    def start(self) -> None:
        from voiceapp.scaleout import ScaleOutError

        try:
            self.setup.start(timeout=90)
        except ScaleOutError as exc:
            raise RuntimeError(str(exc)) from exc
        self.procs = [w.process for w in self.setup.web]
        self.url = self.setup.url

    def stop(self) -> None:
        self.setup.stop()


class Anchor(Target):
    """The Pipecat reference server (its bot_server.py under uvicorn, one worker)."""

    label = "Pipecat"

    def __init__(
        self, directory: Path, venv: Path, log_dir: Path, cpu: int | None, smart_turn: bool
    ) -> None:
        super().__init__()
        self.directory, self.venv, self.cpu = directory, venv, cpu
        self.smart_turn = smart_turn
        self.logs = [log_dir / "pipecat.log"]

    def env(self, delays: dict[str, float]) -> dict[str, str]:
        from bench.fake_providers import DEFAULT_TOKENS_PER_SEC

        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            STT_DELAY_MS=f"{delays['stt'] * 1000:g}",
            LLM_TTFT_MS=f"{delays['llm'] * 1000:g}",
            TTS_TTFB_MS=f"{delays['tts'] * 1000:g}",
            LLM_TOKENS_PER_SEC=os.environ.get(
                "BENCH_LLM_TOKENS_PER_SEC", str(DEFAULT_TOKENS_PER_SEC)
            ),
            TTS_MS_PER_WORD=str(TTS_MS_PER_WORD),
            PUBLIC_HOST="anchor.invalid",  # the simulator keeps only the stream URL's path
            LOG_LEVEL="WARNING",
            TURN_STOP="smart-turn" if self.smart_turn else "vad",
        )
        return env

    def start(self, delays: dict[str, float] | None = None) -> None:
        from bench.fake_providers import delays as provider_delays

        port = free_port()
        command = [
            str(self.venv / "bin" / "uvicorn"),
            "bot_server:app",
            "--app-dir",
            str(self.directory),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ]
        proc = _popen(command, self.env(delays or provider_delays()), self.logs[0], self.cpu)
        self.procs, self.url = [proc], f"http://127.0.0.1:{port}"
        try:
            _wait_answering(proc, self.url + "/telephony/twilio/voice/", self.logs[0], post=True)
        except BaseException:
            self.stop()
            raise

    def utterance(self, path: Path) -> bytes:
        """The anchor client's own caller audio: 1.5 s of 8 kHz mu-law."""
        client = self.directory / "smoke_client.py"
        command = [str(self.venv / "bin" / "python"), str(client), "--dump-utterance", str(path)]
        done = subprocess.run(
            [*command, "--calls", "0"], capture_output=True, text=True, check=False, timeout=120
        )
        if not path.exists():
            raise RuntimeError(f"{client} wrote no utterance:\n{done.stdout}\n{done.stderr}")
        return path.read_bytes()


def _log_errors(path: Path) -> list[str]:
    """Lines of Daphne's log that report an error (access log lines left out)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    marks = ("ERROR", "CRITICAL", "Traceback", "Error:", "Exception")
    return [ln for ln in text.splitlines() if any(m in ln for m in marks)]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- process figures


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def procs_cpu_seconds(pids: list[int]) -> float:
    return sum(proc_cpu_seconds(pid) for pid in pids)


def procs_rss_mib(pids: list[int]) -> float:
    return sum(proc_rss_mib(pid) for pid in pids)


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
