"""The shipped secured broker config (deploy/) keeps strangers out and every device in its own lane.

Each test starts a real Mosquitto with ``deploy/mosquitto-secure.conf`` and ``deploy/acl`` as shipped, only with
the paths and ports moved into a temp folder, and a CA + server certificate made by ``deploy/make-certs.sh``.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from simulator.brokers import MosquittoBroker, free_port, wait_for_port

pytestmark = pytest.mark.broker

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PASSWORDS = {
    "simulator": "sim-Secret-1",
    "pi01": "pi01-Secret-1",
    "pi02": "pi02-Secret-1",
    "homeassistant": "ha-Secret-1",
}
TIMEOUT_S = 5.0


@dataclass
class SecureBroker:
    broker: MosquittoBroker
    tls_port: int
    ca_file: Path

    @property
    def plain_port(self) -> int:
        return self.broker.port


def render_secure_config(etc: Path, plain_port: int, tls_port: int) -> str:
    """The shipped config with /etc/mosquitto moved to ``etc`` and the ports moved to free ones.

    Persistence location and logging are left to the test harness, which points them into the temp folder.
    """
    harness_owned = ("persistence_location", "log_dest", "log_type")
    lines = []
    for line in (DEPLOY / "mosquitto-secure.conf").read_text().splitlines():
        if line.startswith(harness_owned):
            continue
        line = line.replace("/etc/mosquitto/", f"{etc}/")
        line = line.replace("listener 1883 127.0.0.1", f"listener {plain_port} 127.0.0.1")
        line = line.replace("listener 8883", f"listener {tls_port}")
        lines.append(line)
    return "\n".join(lines) + "\n"


def make_password_file(path: Path, passwords: dict[str, str]) -> None:
    for i, (user, password) in enumerate(passwords.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(path), user, password], check=True)


@pytest.fixture(scope="module")
def broker_etc(tmp_path_factory) -> Path:
    """What an admin puts into /etc/mosquitto: certificates from the shipped script, passwords, the shipped ACL."""
    etc = tmp_path_factory.mktemp("etc")
    subprocess.run(
        [str(DEPLOY / "make-certs.sh"), str(etc / "certs"), "localhost", "127.0.0.1"], check=True, capture_output=True
    )
    make_password_file(etc / "passwd", PASSWORDS)
    (etc / "acl").write_text((DEPLOY / "acl").read_text())
    return etc


@pytest.fixture
def secure_broker(tmp_path: Path, broker_etc: Path):
    """A Mosquitto running the shipped secure config: passwords, ACL, TLS with a private CA."""
    etc = broker_etc
    plain_port, tls_port = free_port(), free_port()
    broker = MosquittoBroker(
        tmp_path / "broker",
        extra_config=render_secure_config(etc, plain_port, tls_port),
        anonymous_listener=False,
        port=plain_port,
    )
    broker.start()
    wait_for_port(tls_port)
    yield SecureBroker(broker, tls_port, etc / "certs" / "ca.crt")
    broker.stop()


class Client:
    """A paho MQTT 5 client whose connect, publish and receive wait for the broker's answer."""

    def __init__(self, user: str | None, password: str | None = None, client_id: str | None = None) -> None:
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{user}", protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.paho.username_pw_set(user, password if password is not None else PASSWORDS[user])
        self.connack: mqtt.ReasonCode | None = None
        self.disconnected = threading.Event()
        self._settled = threading.Event()  # a CONNACK or a disconnect, whichever comes first
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.received: list[mqtt.MQTTMessage] = []
        self._acked = threading.Condition()
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_publish = self._on_publish
        self.paho.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self._settled.set()

    def _on_disconnect(self, *args) -> None:
        self.disconnected.set()
        self._settled.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self.pubacks[mid] = reason_code
            self._acked.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self._acked:
            self.received.append(message)
            self._acked.notify_all()

    def wait_received(self, count: int) -> list[str]:
        """Topics received once ``count`` messages are in (or the timeout passed)."""
        with self._acked:
            self._acked.wait_for(lambda: len(self.received) >= count, TIMEOUT_S)
            return [m.topic for m in self.received]

    def connect(self, port: int, ca_file: Path | None = None, tls_without_ca: bool = False) -> Client:
        if ca_file is not None:
            self.paho.tls_set(ca_certs=str(ca_file))
        elif tls_without_ca:
            self.paho.tls_set()  # the system's public CAs only
        self.paho.loop_start()
        self.paho.connect("127.0.0.1", port)
        self._settled.wait(TIMEOUT_S)
        return self

    def publish(self, topic: str, payload: bytes = b"{}") -> mqtt.ReasonCode:
        mid = self.paho.publish(topic, payload, qos=1).mid
        with self._acked:
            assert self._acked.wait_for(lambda: mid in self.pubacks, TIMEOUT_S), f"no PUBACK for {topic}"
            return self.pubacks[mid]

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe(topic, qos=1)
        assert done.wait(TIMEOUT_S)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients():
    made: list[Client] = []

    def make(user: str | None, password: str | None = None, client_id: str | None = None) -> Client:
        made.append(Client(user, password, client_id))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_wrong_password_is_refused(secure_broker, clients):
    client = clients("pi01", password="not-the-password").connect(secure_broker.plain_port)
    assert client.connack is not None and client.connack.is_failure
    assert client.connack.getName() in ("Bad user name or password", "Not authorized")


def test_anonymous_client_is_refused(secure_broker, clients):
    client = clients(None, client_id="anonymous").connect(secure_broker.plain_port)
    assert client.connack is not None and client.connack.is_failure


def test_device_publish_under_another_devices_topic_is_not_authorized_and_not_delivered(secure_broker, clients):
    watcher = clients("homeassistant").connect(secure_broker.plain_port)
    watcher.subscribe("devices/#")
    pi01 = clients("pi01").connect(secure_broker.plain_port)

    foreign = pi01.publish("devices/pi02/prediction", b'{"forged": true}')
    own = pi01.publish("devices/pi01/prediction", b'{"forged": false}')  # delivered after the foreign one, if any

    assert foreign.getName() == "Not authorized"
    assert not own.is_failure
    assert watcher.wait_received(1) == ["devices/pi01/prediction"]


def test_device_may_announce_only_its_own_home_assistant_entities(secure_broker, clients):
    pi01 = clients("pi01").connect(secure_broker.plain_port)
    assert not pi01.publish("homeassistant/sensor/pi01/power/config").is_failure
    assert pi01.publish("homeassistant/sensor/pi02/power/config").getName() == "Not authorized"


def test_device_cannot_forge_meter_readings(secure_broker, clients):
    pi01 = clients("pi01").connect(secure_broker.plain_port)
    assert pi01.publish("meter/house1/reading").getName() == "Not authorized"


def test_simulator_writes_only_meter_readings(secure_broker, clients):
    simulator = clients("simulator").connect(secure_broker.plain_port)
    assert not simulator.publish("meter/house1/reading").is_failure
    assert simulator.publish("devices/pi01/prediction").getName() == "Not authorized"
    assert simulator.publish("homeassistant/sensor/pi01/power/config").getName() == "Not authorized"


def test_device_receives_readings_from_the_simulator(secure_broker, clients):
    pi01 = clients("pi01").connect(secure_broker.plain_port)
    pi01.subscribe("meter/+/reading")
    clients("simulator").connect(secure_broker.plain_port).publish("meter/house1/reading", b'{"gap": 0.5}')
    assert pi01.wait_received(1) == ["meter/house1/reading"]


def test_tls_with_the_ca_connects(secure_broker, clients):
    client = clients("pi01").connect(secure_broker.tls_port, ca_file=secure_broker.ca_file)
    assert client.connack is not None and not client.connack.is_failure


def test_tls_without_the_ca_fails_the_handshake(secure_broker, clients):
    with pytest.raises(ssl.SSLCertVerificationError):
        clients("pi01").connect(secure_broker.tls_port, tls_without_ca=True)


def test_plain_mqtt_to_the_tls_port_gets_no_connack(secure_broker, clients):
    client = clients("pi01").connect(secure_broker.tls_port)
    assert client.connack is None
    assert client.disconnected.wait(TIMEOUT_S)
