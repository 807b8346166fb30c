"""The simulator's one QoS 1 publisher: the replay's, the benchmarks' and the fleet's meters.

Every message it publishes ends up counted as acknowledged or refused (an MQTT 5 PUBACK with a failure reason code,
e.g. "Not authorized"), or is still unacknowledged, which :meth:`AckingPublisher.wait_all` says. When paho's queue is
full it waits for an acknowledgement instead of dropping. Given several brokers (a comma-separated
:attr:`BrokerSettings.url`, e.g. the nodes of a NATS cluster) it points paho at the next one whenever the connection
drops or cannot be made; paho sends the unacknowledged messages again once connected there.
"""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt

from device.mqtt.client import Failover, make_client, publish_qos1, published
from device.mqtt.settings import BrokerSettings

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 15.0
#: paho's own reconnect backoff (min, max seconds), kept unless a caller wants a quicker failover.
PAHO_RECONNECT_DELAY_S = (1.0, 120.0)


class AckingPublisher:
    """A connected paho client that publishes at QoS 1 and counts PUBACKs; a full queue makes it wait, never drop."""

    def __init__(
        self,
        settings: BrokerSettings,
        client_id: str,
        max_inflight: int,
        max_queued: int,
        reconnect_delay_s: tuple[float, float] = PAHO_RECONNECT_DELAY_S,
    ) -> None:
        self.client = make_client(settings, client_id)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(max_queued)
        # paho types the delays int but sleeps on floats (the fleet reconnects after 0.2 s)
        self.client.reconnect_delay_set(*reconnect_delay_s)  # type: ignore[arg-type]
        self._failover = Failover(self.client, settings.brokers)
        self.published = 0
        self.acknowledged = 0
        self.refused = 0
        self.queue_full_waits = 0
        self._settled = threading.Condition()
        self._connack: mqtt.ReasonCode | None = None
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = lambda client, userdata: self._failover.next()
        self.client.connect_async(*self._failover.current)
        self.client.loop_start()
        with self._settled:
            self._settled.wait_for(lambda: self._connack is not None, CONNECT_TIMEOUT_S)
        if self._connack is None or self._connack.is_failure:
            self.close()
            raise ConnectionError(f"broker {settings.url} refused or did not answer: {self._connack}")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker %s:%d refused the connection: %s", *self._failover.current, reason_code)
        with self._settled:
            self._connack = reason_code
            self._settled.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._failover.closing:
            return
        log.warning(
            "disconnected from %s:%d: %s; paho reconnects and sends the unacknowledged again",
            *self._failover.current,
            reason_code,
        )
        self._failover.next()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._settled:
            if reason_code.is_failure:  # MQTT 5 PUBACK with e.g. "Not authorized"
                self.refused += 1
            else:
                self.acknowledged += 1
            self._settled.notify_all()

    @property
    def settled(self) -> int:
        return self.acknowledged + self.refused

    @property
    def failovers(self) -> int:
        return self._failover.failovers

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1; while paho's queue is full, wait for an acknowledgement and try again."""
        info = publish_qos1(self.client, topic, payload, self._wait_for_an_ack)
        if not published(info):
            raise RuntimeError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.published += 1

    def _wait_for_an_ack(self) -> bool:
        self.queue_full_waits += 1
        with self._settled:
            before = self.settled
            self._settled.wait_for(lambda: self.settled > before, timeout=1.0)
        return True

    def publish_all(self, messages: list[tuple[str, bytes]], timeout_s: float) -> int:
        """Publish every (topic, payload) and wait for all PUBACKs; how many of them the broker acknowledged (the
        rest it refused). Raises TimeoutError if some are unacknowledged ``timeout_s`` after the last publish."""
        before = self.acknowledged
        for topic, payload in messages:
            self.publish(topic, payload)
        if not self.wait_all(timeout_s):
            raise TimeoutError(
                f"{self.published - self.settled} of {self.published} messages unacknowledged after {timeout_s:.0f} s"
            )
        return self.acknowledged - before

    def wait_all(self, timeout_s: float) -> bool:
        """Wait until every published message is acknowledged or refused; False if the timeout passed first."""
        with self._settled:
            return self._settled.wait_for(lambda: self.settled >= self.published, timeout_s)

    def close(self) -> None:
        self._failover.closing = True
        self.client.disconnect()
        self.client.loop_stop()
