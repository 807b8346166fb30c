"""The agent's MQTT link: paho-mqtt 2 done the way a device on a flaky network needs it.

Fixed client id and a persistent session (MQTT 5 ``clean_start=False`` with a session expiry, or 3.1.1
``clean_session=False``) so the broker queues readings while the agent is away; QoS 1 both ways; subscriptions
re-made in ``on_connect``; ``connect_async`` with a reconnect backoff so a broker that is down at start (or restarts)
is never fatal; a retained ``online``/``offline`` status with the last will; and publishes whose return code is
checked: ``MQTT_ERR_QUEUE_SIZE`` is retried until it fits, never dropped silently.

Several brokers (``--broker a,b,c``, e.g. the nodes of a NATS cluster): paho knows one host, so whenever a
connection drops or cannot be made the link points paho at the next one before its reconnect backoff runs out.
A subscription the broker refuses (SUBACK 0x80, or an MQTT 5 reason code >= 0x80) is never silent: on the first
connection it is fatal (``on_fatal``, the agent stops with the reason); after a failover it is retried with the same
backoff, since a NATS cluster may refuse a QoS 1 subscription while one of its nodes is down
(deploy/nats/node.conf). ``online`` is
published only once the broker granted every subscription, so whoever waits for it can publish safely.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from device.config import AgentConfig
from device.mqtt.client import QOS, Failover, make_client, publish_qos1, published

log = logging.getLogger(__name__)
#: paho's own outgoing queue is bounded so memory stays bounded when the broker is slow; past it we wait.
MAX_QUEUED_PUBLISHES = 10_000


@dataclass(frozen=True)
class Inbound:
    """One message as the network thread hands it over: its topic and payload, when it arrived (perf_counter ns), the
    token :meth:`MqttLink.ack` takes once it is handled, and whether the broker delivered it from its retained store."""

    topic: str
    payload: bytes
    received_ns: int
    ack: tuple[int, int]
    retained: bool = False


MessageHandler = Callable[[Inbound], None]


class MqttLink:
    """The agent's one paho client; ``on_message`` gets every message as an :class:`Inbound`."""

    def __init__(
        self,
        config: AgentConfig,
        on_message: MessageHandler,
        subscriptions: list[str],
        on_connected: Callable[[], None] = lambda: None,
        on_congested: Callable[[], None] = lambda: None,
        on_fatal: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.config = config
        #: True while a publish waits for room in paho's queue: then only paho's network thread can make room, so
        #: it must not be held up (see Agent._receive).
        self.congested = False
        self._on_congested = on_congested
        self.subscriptions = subscriptions
        self.status_topic = config.topic("status")
        self.counters: Counter[str] = Counter(
            {"published": 0, "retried": 0, "failed": 0, "connects": 0, "failovers": 0, "subscriptions_refused": 0}
        )
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_fatal = on_fatal
        self._retry_delay_s = 1.0
        self._subscribe_mid: int | None = None
        #: set once the broker granted every subscription (the agent receives from then on)
        self.subscribed = threading.Event()
        client = make_client(config.broker_settings, config.agent_id, persistent=True)
        client.max_queued_messages_set(MAX_QUEUED_PUBLISHES)
        # A reading is acknowledged only once the agent handled it: a crash before that leaves it unacknowledged
        # in the session, and the broker sends it again. It also bounds what waits unhandled in the agent to the
        # broker's max_inflight_messages.
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.will_set(self.status_topic, "offline", qos=QOS, retain=True)
        self._failover = Failover(client, config.broker_settings.brokers)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_connect_fail = self._connect_failed
        client.on_subscribe = self._subscribed
        client.on_message = self._message
        self._client = client
        self._last: mqtt.MQTTMessageInfo | None = None
        self._stopping = False

    @property
    def broker(self) -> tuple[str, int]:
        """The (host, port) in use, or tried next."""
        return self._failover.current

    def start(self) -> None:
        host, port = self.broker
        if self.config.broker_settings.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's Properties is untyped
            props.SessionExpiryInterval = self.config.session_expiry_s
            # A broker that holds to it sends no more unacknowledged readings than this; Mosquitto 2.0.11 stops holding
            # to small values once acknowledgements flow (docs/agent.md); Agent._receive also holds its reads.
            props.ReceiveMaximum = self.config.receive_maximum
            self._client.connect_async(host, port, self.config.keepalive_s, clean_start=False, properties=props)
        else:
            self._client.connect_async(host, port, self.config.keepalive_s)
        self._client.loop_start()
        log.info(
            "connecting to %s:%d as %s (MQTT %s, TLS %s)",
            host,
            port,
            self.config.agent_id,
            self.config.mqtt_version,
            "on" if self.config.broker_settings.tls else "off",
        )

    def _connected(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s (will retry)", reason_code)
            return
        self.counters["connects"] += 1
        log.info("connected to %s:%d (session present: %s)", *self.broker, flags.session_present)
        self._retry_delay_s = 1.0
        self._subscribe()
        self._on_connected()

    def _subscribe(self) -> None:
        if self._client.is_connected() and not self._stopping:
            _, self._subscribe_mid = self._client.subscribe([(topic, QOS) for topic in self.subscriptions])

    def _subscribed(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [f"{topic} ({code})" for topic, code in zip(self.subscriptions, reason_codes) if code.is_failure]
        if not refused:
            self.subscribed.set()
            log.info("subscribed to %s", ", ".join(self.subscriptions))
            # Not on this thread: with a session present the backlog may already fill paho's queue, and only this
            # (paho's network) thread drains it, so waiting here for room would stall every publish.
            threading.Thread(
                target=self.publish, args=(self.status_topic, b"online", True), daemon=True, name="wattcast-online"
            ).start()
            return
        self.counters["subscriptions_refused"] += 1
        reason = (
            f"broker {self.broker[0]}:{self.broker[1]} refused the subscription to {', '.join(refused)}: no "
            "reading would arrive (NATS refuses one when the user may not subscribe, when it cannot place the "
            "subscription's consumer, e.g. with consumer_replicas 1 while a node is down, or when the session's "
            "max_ack_pending would pass 65535; check the broker's log and the user's permissions)"
        )
        if not self.subscribed.is_set():
            self._on_fatal(reason)
            return
        log.error("%s; retrying in %.0f s", reason, self._retry_delay_s)
        retry = threading.Timer(self._retry_delay_s, self._subscribe)
        retry.daemon = True
        retry.start()
        self._retry_delay_s = min(self._retry_delay_s * 2, 30.0)

    def _next_broker(self) -> None:
        if not self._stopping:
            self._failover.next()
            self.counters["failovers"] = self._failover.failovers

    def _disconnected(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._stopping:
            log.info("disconnected")
            return
        log.warning("disconnected from %s:%d: %s; paho reconnects with backoff", *self.broker, reason_code)
        self._next_broker()

    def _connect_failed(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("could not connect to %s:%d", *self.broker)
        self._next_broker()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = time.perf_counter_ns()
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "<not utf-8>"
        # paho declares bytes | bytearray but decodes a payload as bytes, which bytes() returns as it is (no copy)
        self._on_message(
            Inbound(topic, bytes(message.payload), received, (message.mid, message.qos), bool(message.retain))
        )

    def ack(self, token: tuple[int, int]) -> None:
        """Acknowledge a handled message (its :attr:`Inbound.ack`)."""
        self._client.ack(*token)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Queue one QoS 1 message; while paho's queue is full, wait and retry up to ``publish_retry_s``."""
        deadline = time.monotonic() + self.config.publish_retry_s
        delay = 0.0005

        def wait_for_room() -> bool:
            nonlocal delay
            if time.monotonic() > deadline:
                return False
            self.counters["retried"] += 1
            if not self.congested:
                self.congested = True
                self._on_congested()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            return True

        self._last = publish_qos1(self._client, topic, payload, wait_for_room, retain)
        self.congested = False
        if published(self._last):
            self.counters["published"] += 1
            return True
        self.counters["failed"] += 1
        log.error("publish to %s failed: %s", topic, mqtt.error_string(self._last.rc))
        return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say ``offline`` (retained), let queued messages go out, then disconnect."""
        self._stopping = True
        self.publish(self.status_topic, b"offline", retain=True)
        if self._last is not None and self._client.is_connected():  # publish() above always set it
            try:  # QoS 1 messages go out in order: once the last is acknowledged, the earlier ones were sent
                self._last.wait_for_publish(timeout_s)
            except RuntimeError as exc:
                log.warning("could not flush the last messages: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
