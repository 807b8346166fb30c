"""The broker fixture really starts and stops a Mosquitto process."""

import os
import socket

import pytest

pytestmark = pytest.mark.broker


def test_fixture_broker_accepts_connections_and_stops_by_pid(mosquitto):
    with socket.create_connection(("127.0.0.1", mosquitto.port), timeout=2):
        pass
    pid = mosquitto.process.pid
    mosquitto.stop()
    assert mosquitto.process is None
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
