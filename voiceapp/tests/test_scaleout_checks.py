"""HAProxy keeps a busy web process in rotation: a process carrying a burst of calls answers
its health check late, not never. With the check's default timeout (its 1 s interval) both
processes were taken out at 200 calls and new calls got 503 (bench.call_latency
--processes 2)."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from voiceapp.scaleout import ScaleOut, WebProcess, free_port, haproxy_binary

CHECK_TAKES = 1.5  # seconds: past the 1 s interval, well inside the check's timeout


class _BusyProcess(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            time.sleep(CHECK_TAKES)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_process_slow_to_answer_its_check_stays_in_rotation(tmp_path):
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _BusyProcess)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    setup = ScaleOut(env={}, log_dir=tmp_path, port=free_port(), tunnel_seconds=60)
    setup.web = [WebProcess("web1", backend.server_port, None)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(setup.haproxy_config())
    log = open(tmp_path / "haproxy.log", "wb")
    balancer = subprocess.Popen(
        [haproxy_binary(), "-db", "-f", str(config)], stdout=log, stderr=log
    )
    try:
        time.sleep(4 * CHECK_TAKES)  # several checks, each answered after the interval
        response = httpx.get(f"{setup.url}/call", timeout=10)
        assert response.status_code == 200, (tmp_path / "haproxy.log").read_text()[-2000:]
        assert "is DOWN" not in (tmp_path / "haproxy.log").read_text()
    finally:
        balancer.terminate()
        balancer.wait(10)
        log.close()
        backend.shutdown()
