"""deploy/nats's own scripts: start-cluster.sh brings up three healthy nodes with PID files, and stop-cluster.sh
stops exactly those processes by their PID files."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from simulator.brokers import find_binary
from simulator.nats_cluster import DEPLOY

pytestmark = pytest.mark.slow
PORTS_USED = 34  # the scripts take base+1 .. base+33


def free_base_port() -> int:
    """A base whose 33 ports above are all free on 127.0.0.1 now."""
    for base in range(20_000, 60_000, 97):
        try:
            sockets = []
            for port in range(base + 1, base + PORTS_USED):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free range of ports")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"nats-server")


def test_start_cluster_runs_three_nodes_that_stop_cluster_stops_by_pid(tmp_path):
    find_binary("nats-server")
    find_binary("curl")
    env = {
        **os.environ,
        "WATTCAST_NATS_AGENT_PASSWORD": "a",
        "WATTCAST_NATS_METER_PASSWORD": "m",
        "WATTCAST_NATS_PARTITIONS": "8",
        "WATTCAST_NATS_BASE_PORT": str(free_base_port()),
    }
    run_dir = tmp_path / "run"
    try:
        started = subprocess.run(
            [str(DEPLOY / "start-cluster.sh"), str(run_dir)], env=env, capture_output=True, text=True, timeout=60
        )
        pids = [int(p.read_text()) for p in sorted(run_dir.glob("n*.pid"))]
        assert started.returncode == 0, started.stderr
        assert "cluster ready: 8 partitions" in started.stdout
        assert "partition(8,1)" in (run_dir / "accounts.conf").read_text()
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
    finally:
        stopped = subprocess.run(
            [str(DEPLOY / "stop-cluster.sh"), str(run_dir)], capture_output=True, text=True, timeout=60
        )
    assert stopped.returncode == 0, stopped.stderr
    assert not any(alive(pid) for pid in pids)
    assert not list(run_dir.glob("n*.pid"))
