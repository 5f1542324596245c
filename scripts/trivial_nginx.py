"""A trivial nginx for the measurement scripts (driver-choice.py, stall-contrast.py): every path
answers a disk-sized JSON body, no access log, and stub_status counts the requests it served,
the same count whatever load driver sent them. On a free port of 127.0.0.1, in a temporary
folder; `stop()` ends it."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

BODY = '{"id":1,"title":"Kind of Blue","artist":"Miles Davis","genre":"jazz","year":1959,"price_cents":2990,"stock":100}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TrivialNginx:
    """workers=N: a master and N workers; workers=0: one process (no master), so one SIGSTOP
    stops all of it."""

    def __init__(self, workers=1):
        self.dir = tempfile.TemporaryDirectory(prefix="trivial-nginx-")
        d = self.dir.name
        self.port = free_port()
        os.makedirs(f"{d}/tmp")
        processes = "master_process off;" if workers == 0 else f"worker_processes {workers};"
        conf = f"""{processes}
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location = /stub {{ stub_status; }}
    location / {{ default_type application/json; return 200 '{BODY}'; }}
  }}
}}
"""
        Path(d, "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            [os.environ.get("LAB_NGINX_BIN", "nginx"), "-p", d, "-c", f"{d}/nginx.conf",
             "-e", f"{d}/error.log"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the trivial nginx did not start")
                time.sleep(0.05)

    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def requests(self):
        """nginx's own count of requests served (stub_status), minus this request."""
        text = urllib.request.urlopen(f"{self.base()}/stub", timeout=5).read().decode()
        numbers = text.splitlines()[2].split()
        return int(numbers[2]) - 1

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()
