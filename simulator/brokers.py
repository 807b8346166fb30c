"""Real broker processes (Mosquitto here; others beside it) for the tests and the benchmarks: started on a free port
with the config they need, stopped by PID, never by name.

A missing binary raises :class:`BinaryMissing` with the reason; the tests turn it into a skip, except under CI
(``CI=true``), where it is a failure (tests/conftest.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class BinaryMissing(RuntimeError):
    """A server or tool binary the caller needs is not installed; the message says which Debian package has it."""


def find_binary(name: str, debian_package: str | None = None) -> str:
    """Path of ``name`` on PATH or in the sbin folders Debian installs servers to; raises :class:`BinaryMissing`."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    raise BinaryMissing(f"the {name} binary is not installed (apt-get install {debian_package or name})")


def find_mosquitto() -> str:
    return find_binary("mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
    """Signal ``process`` by its PID and wait for it, SIGKILL if it ignores ``sig`` for ``timeout_s``; its exit
    code. Never by name: other brokers or agents on the machine are not ours to stop."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored signal %d for %.0f s: killing it", process.pid, sig, timeout_s)
            process.kill()
            process.wait()
    return process.returncode


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"broker did not listen on 127.0.0.1:{port} within {timeout}s")


@dataclass
class MosquittoBroker:
    """One mosquitto process with its own config, data dir and log in ``workdir``."""

    workdir: Path
    extra_config: str = ""
    #: False when ``extra_config`` brings its own listeners (e.g. a secured config): no anonymous listener is added.
    anonymous_listener: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mosquitto.conf"
        listener = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" if self.anonymous_listener else ""
        # Started as root, mosquitto drops to user "mosquitto", which cannot open the test's temp folder (0700).
        stay = "user root\n" if os.geteuid() == 0 else ""
        base = (
            listener + stay + f"persistence_location {self.workdir}/\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        config.write_text(base + self.extra_config)
        return config

    def start(self) -> MosquittoBroker:
        binary = find_mosquitto()
        config = self.write_config()
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port)
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(
                f"mosquitto failed to start: {self.log_path.read_text() if self.log_path.exists() else ''}"
            ) from exc
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop_process(self.process, sig)
        self.process = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
