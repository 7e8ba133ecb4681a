"""Scale-out on the existing engines: N web processes behind HAProxy, rq workers, the cron.

The production shape of DESIGN "State and scale", started on one machine: `processes` Daphne
processes (`manage.py serve --proxy-headers`, one per core), HAProxy in front of them on one
port, `workers` rq workers and the one `rqcron voiceapp.cron`, all sharing one PostgreSQL and
one Redis (the channel layer, the queues). A call is one WebSocket, held by one process; what
reaches it from another (a staff hang-up, the answering-machine verdict, a board event) goes
through its Channels group on Redis.

HAProxy rather than nginx: its free edition checks backends actively (`/healthz` every
second; a dead process is out of the rotation before a caller is sent to it, where open-source
nginx only notices on a failed request), it passes the WebSocket upgrade with no extra
configuration, and `leastconn` spreads long-lived sockets (calls) by how many each process
holds, not by how many requests it was handed. It also names the process that answered in
`X-Served-By`, so a test (or an operator with curl) can tell which process holds a call.

Used by `manage.py scaleout` (scripts/scaleout), its test and `bench.call_latency
--processes`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVED_BY = "X-Served-By"  # the response header naming the web process that answered

HAPROXY_CONFIG = """\
global
    maxconn {maxconn}
    log stderr format raw local0 notice
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    log global
    option httplog
    option forwardfor
    timeout connect 5s
    timeout http-request 10s
    timeout client 60s
    timeout server 60s
    # A call's socket: idle stretches are allowed as long as Daphne allows the socket itself.
    timeout tunnel {tunnel_seconds}s

frontend web
    bind {bind}:{port}
    default_backend daphne

backend daphne
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz
    # A process busy with a burst of calls answers its check late, not never: with the default
    # (the check's interval, 1 s) both were taken out at 200 calls and new calls got 503. A
    # dead process still fails at once (its port refuses the connection).
    timeout check 5s
    http-response set-header {served_by} %s
{servers}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_logged(
    command: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cpu: int | None = None,
    append: bool = True,
) -> subprocess.Popen:
    """`command` started from the project root with `env`, its output to `log_path`, pinned to
    `cpu` if given, in a session of its own: a Ctrl-C in the terminal reaches only the parent,
    which stops its children in order instead of all of them at once."""
    log = open(log_path, "ab" if append else "wb")  # the child keeps its own descriptor
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
    finally:
        log.close()


def haproxy_binary() -> str:
    # Debian puts it in /usr/sbin, which a non-root PATH may leave out.
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise ScaleOutError("HAProxy is not installed: apt-get install haproxy (scripts/services)")
    return found


class ScaleOutError(RuntimeError):
    pass


@dataclass
class WebProcess:
    name: str  # as HAProxy calls it (X-Served-By)
    port: int
    cpu: int | None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ScaleOut:
    """The set-up; `start()` brings it up (or raises, leaving nothing running), `stop()` takes
    it down in order: web processes first (each finishes its calls), then the balancer, the
    cron and the workers."""

    env: dict[str, str]
    log_dir: Path
    processes: int = 2
    port: int = 0  # the balancer's; 0 picks a free one
    bind: str = "127.0.0.1"
    workers: int = 1
    cron: bool = True
    pin: bool = False  # web process i on CPU i (mod the CPUs there are)
    # From the settings when 0 (a process without Django, the benchmark, gives them):
    tunnel_seconds: int = 0  # WEBSOCKET_TIMEOUT_SECONDS: how long HAProxy keeps a socket
    close_seconds: int = 0  # APPLICATION_CLOSE_TIMEOUT_SECONDS: a web process's shutdown
    web: list[WebProcess] = field(default_factory=list)
    others: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"http://{host}:{self.port}"

    @property
    def stats_socket(self) -> Path:
        return self.log_dir / "haproxy.sock"

    def __enter__(self) -> ScaleOut:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- start

    def start(self, timeout: float = 60) -> None:
        if self.processes < 1:
            raise ScaleOutError("at least one web process")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.env.get("PROMETHEUS_MULTIPROC_DIR"):
            # One /metrics for the fleet: every process writes here, a scrape of any sums them
            # (monitoring.multiprocess); a new, empty directory, as the fleet starts here.
            metrics = self.log_dir / "metrics"
            metrics.mkdir(exist_ok=True)
            for stale in metrics.glob("*.db"):
                stale.unlink()
            self.env = {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
        self.port = self.port or free_port()
        cpus = sorted(os.sched_getaffinity(0))
        self.web = [
            WebProcess(f"web{i + 1}", free_port(), cpus[i % len(cpus)] if self.pin else None)
            for i in range(self.processes)
        ]
        try:
            for web in self.web:
                command = ["manage.py", "serve", "--bind", "127.0.0.1", "--port", str(web.port)]
                web.process = self._spawn(web.name, [*command, "--proxy-headers"], cpu=web.cpu)
            for i in range(self.workers):
                self.others[f"worker{i + 1}"] = self._spawn(
                    f"worker{i + 1}", ["manage.py", "rqworker", "default", "telephony"]
                )
            if self.cron:
                self.others["cron"] = self._spawn("cron", ["manage.py", "rqcron", "voiceapp.cron"])
            deadline = time.monotonic() + timeout
            for web in self.web:
                self._wait_healthy(web, deadline)
            config = self.log_dir / "haproxy.cfg"
            config.write_text(self.haproxy_config())
            self.others["haproxy"] = self._spawn(
                "haproxy", [haproxy_binary(), "-db", "-f", str(config)], python=False
            )
            self._wait_balanced(deadline)
        except BaseException:
            self.stop()
            raise

    def haproxy_config(self) -> str:
        servers = "\n".join(
            f"    server {w.name} 127.0.0.1:{w.port} check inter 1s fall 2 rise 1" for w in self.web
        )
        if not self.tunnel_seconds:
            from django.conf import settings

            self.tunnel_seconds = settings.WEBSOCKET_TIMEOUT_SECONDS
        return HAPROXY_CONFIG.format(
            maxconn=max(4096, 1000 * self.processes),
            stats_socket=self.stats_socket,
            tunnel_seconds=self.tunnel_seconds,
            bind=self.bind,
            port=self.port,
            served_by=SERVED_BY,
            servers=servers,
        )

    def _spawn(
        self, name: str, command: list[str], *, cpu: int | None = None, python: bool = True
    ) -> subprocess.Popen:
        return start_logged(
            [sys.executable, *command] if python else command,
            env=self.env,
            log_path=self.log_dir / f"{name}.log",
            cpu=cpu,
        )

    def _wait_healthy(self, web: WebProcess, deadline: float) -> None:
        import httpx

        while True:
            if web.process.poll() is not None:
                raise ScaleOutError(f"{web.name} exited:\n{self.tail(web.name)}")
            try:
                if httpx.get(web.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ScaleOutError(f"{web.name} not healthy:\n{self.tail(web.name)}")
            time.sleep(0.2)

    def _wait_balanced(self, deadline: float) -> None:
        """Until HAProxy's own health checks see every web process up."""
        while True:
            haproxy = self.others["haproxy"]
            if haproxy.poll() is not None:
                raise ScaleOutError(f"HAProxy exited:\n{self.tail('haproxy')}")
            try:
                if set(self.backend_status().values()) == {"UP"}:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ScaleOutError(f"HAProxy's backends not up:\n{self.tail('haproxy')}")
            time.sleep(0.2)

    # ---------------------------------------------------------------- while it runs

    def backend_status(self) -> dict[str, str]:
        """Each web process's status as HAProxy's checks see it ("UP", "DOWN", ...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        status = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "daphne" and row.get("svname") not in ("FRONTEND", "BACKEND"):
                status[row["svname"]] = row["status"].split()[0]
        return status

    def by_name(self, name: str) -> WebProcess:
        return next(w for w in self.web if w.name == name)

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def dead(self) -> list[str]:
        """The processes of the set-up that have exited."""
        running = {w.name: w.process for w in self.web if w.process} | self.others
        return [name for name, proc in running.items() if proc.poll() is not None]

    # ---------------------------------------------------------------- stop

    def stop(self) -> None:
        if not self.close_seconds:
            from django.conf import settings

            self.close_seconds = settings.APPLICATION_CLOSE_TIMEOUT_SECONDS
        # Each web process closes its calls (outcome server_shutdown) within the application
        # close timeout; give it that and a little more.
        _stop([w.process for w in self.web if w.process], self.close_seconds + 5)
        for name in ("haproxy", "cron"):
            _stop([self.others.pop(name)] if name in self.others else [], 10)
        # rq's warm shutdown: a job in hand is finished first.
        _stop(list(self.others.values()), 30)
        self.others.clear()


def _stop(processes: list[subprocess.Popen], grace: float) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
