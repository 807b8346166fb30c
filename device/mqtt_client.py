"""The agent's MQTT link: paho-mqtt 2 done the way a device on a flaky network needs it.

Fixed client id and a persistent session (MQTT 5 ``clean_start=False`` with a session expiry, or 3.1.1
``clean_session=False``) so the broker queues readings while the agent is away; QoS 1 both ways; subscriptions
re-made in ``on_connect``; ``connect_async`` with a reconnect backoff so a broker that is down at start (or restarts)
is never fatal; a retained ``online``/``offline`` status with the last will; and publishes whose return code is
checked: ``MQTT_ERR_QUEUE_SIZE`` is retried until it fits, never dropped silently.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.config import AgentConfig

log = logging.getLogger(__name__)
#: paho's own outgoing queue is bounded so memory stays bounded when the broker is slow; past it we wait.
MAX_QUEUED_PUBLISHES = 10_000
QOS = 1

#: (topic, payload, receive time in perf_counter ns, ack token): pass the token to :meth:`MqttLink.ack` once the
#: message is handled.
MessageHandler = Callable[[str, bytes, int, tuple[int, int]], None]


class MqttLink:
    """One paho client; ``on_message`` gets (topic, payload, receive time in perf_counter ns)."""

    def __init__(self, config: AgentConfig, on_message: MessageHandler, subscriptions: list[str],
                 on_connected: Callable[[], None] = lambda: None,
                 on_congested: Callable[[], None] = lambda: None) -> None:
        self.config = config
        #: True while a publish waits for room in paho's queue: then only paho's network thread can make room, so
        #: it must not be held up (see Agent._receive).
        self.congested = False
        self._on_congested = on_congested
        self.subscriptions = subscriptions
        self.status_topic = config.topic("status")
        self.counters: Counter[str] = Counter({"published": 0, "retried": 0, "failed": 0, "connects": 0})
        self._on_message = on_message
        self._on_connected = on_connected
        v5 = config.mqtt_version == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.agent_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.max_queued_messages_set(MAX_QUEUED_PUBLISHES)
        # A reading is acknowledged only once the agent handled it: a crash before that leaves it unacknowledged
        # in the session, and the broker sends it again. It also bounds what waits unhandled in the agent to the
        # broker's max_inflight_messages.
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.will_set(self.status_topic, "offline", qos=QOS, retain=True)
        if config.username:
            client.username_pw_set(config.username, config.password or None)
        if config.tls:
            client.tls_set(
                ca_certs=str(config.ca_file) if config.ca_file else None,
                certfile=str(config.cert_file) if config.cert_file else None,
                keyfile=str(config.key_file) if config.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self._client = client
        self._last: mqtt.MQTTMessageInfo | None = None
        self._stopping = False

    def start(self) -> None:
        host, port = self.config.host_port
        if self.config.mqtt_version == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.config.session_expiry_s
            # A broker that holds to it sends no more unacknowledged readings than this; Mosquitto 2.0.11 stops holding
            # to small values once acknowledgements flow (device/README.md); Agent._receive also holds its reads.
            props.ReceiveMaximum = self.config.receive_maximum
            self._client.connect_async(host, port, self.config.keepalive_s, clean_start=False, properties=props)
        else:
            self._client.connect_async(host, port, self.config.keepalive_s)
        self._client.loop_start()
        log.info("connecting to %s:%d as %s (MQTT %s, TLS %s)", host, port, self.config.agent_id,
                 self.config.mqtt_version, "on" if self.config.tls else "off")

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s (will retry)", reason_code)
            return
        self.counters["connects"] += 1
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe([(topic, QOS) for topic in self.subscriptions])
        self.publish(self.status_topic, b"online", retain=True)
        self._on_connected()

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        if self._stopping:
            log.info("disconnected")
        else:
            log.warning("disconnected: %s; paho reconnects with backoff", reason_code)

    def _message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        received = time.perf_counter_ns()
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "<not utf-8>"
        self._on_message(topic, message.payload, received, (message.mid, message.qos))

    def ack(self, token: tuple[int, int]) -> None:
        """Acknowledge a handled message (the token :data:`MessageHandler` was given)."""
        self._client.ack(*token)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Queue one QoS 1 message; while paho's queue is full, wait and retry up to ``publish_retry_s``.

        ``MQTT_ERR_NO_CONN`` is fine at QoS 1: paho keeps the message and sends it after reconnecting.
        """
        deadline = time.monotonic() + self.config.publish_retry_s
        delay = 0.0005
        while True:
            self._last = self._client.publish(topic, payload, qos=QOS, retain=retain)
            rc = self._last.rc
            if rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.counters["published"] += 1
                self.congested = False
                return True
            if rc != mqtt.MQTT_ERR_QUEUE_SIZE or time.monotonic() > deadline:
                self.congested = False
                self.counters["failed"] += 1
                log.error("publish to %s failed: %s", topic, mqtt.error_string(rc))
                return False
            self.counters["retried"] += 1
            if not self.congested:
                self.congested = True
                self._on_congested()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say ``offline`` (retained), let queued messages go out, then disconnect."""
        self._stopping = True
        self.publish(self.status_topic, b"offline", retain=True)
        if self._client.is_connected():
            try:  # QoS 1 messages go out in order: once the last is acknowledged, the earlier ones were sent
                self._last.wait_for_publish(timeout_s)
            except RuntimeError as exc:
                log.warning("could not flush the last messages: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
