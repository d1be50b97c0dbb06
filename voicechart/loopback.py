"""Servers on this machine's loopback: a free port for one, and waiting until one started as a child process
listens (the sandbox API for tests and benchmarks, the review app in the browser tests)."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], *, timeout_s: float = 30.0) -> bool:
    """True once something accepts connections on 127.0.0.1:`port`; False if `process` ended first or
    `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False
