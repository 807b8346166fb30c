"""The paho client every part of wattcast connects with: made from :class:`BrokerSettings`, failing over along its
brokers, and publishing QoS 1 without ever dropping a message silently.

paho-mqtt 2 knows one server and retries it with its own backoff; :class:`Failover` points that retry at the next
broker of the list whenever a connection drops or cannot be made. :func:`publish_qos1` is the one answer to paho's
full queue (``MQTT_ERR_QUEUE_SIZE``): wait as the caller says, then try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device.mqtt.settings import BrokerSettings

log = logging.getLogger(__name__)
QOS = 1


def make_client(settings: BrokerSettings, client_id: str, persistent: bool | None = None) -> mqtt.Client:
    """A paho client with the settings' protocol, login and TLS (not yet connected). ``persistent``: MQTT 3.1.1's
    ``clean_session=False`` (default: the settings' ``persistent_session``); MQTT 5 asks for its session at connect."""
    keep = settings.persistent_session if persistent is None else persistent
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=settings.protocol,
        clean_session=None if settings.v5 else not keep,
    )
    if (login := settings.credentials()) is not None:
        client.username_pw_set(*login)
    if settings.tls:
        client.tls_set(
            ca_certs=_text(settings.ca_file), certfile=_text(settings.cert_file), keyfile=_text(settings.key_file)
        )
    return client


class Failover:
    """The settings' brokers in order, and which one ``client`` connects to; :meth:`next` moves on (a no-op with one
    broker or once closing)."""

    def __init__(self, client: mqtt.Client, brokers: list[tuple[str, int]]) -> None:
        self.client = client
        self.brokers = brokers
        self.index = 0
        self.failovers = 0
        self.closing = False

    @property
    def current(self) -> tuple[str, int]:
        return self.brokers[self.index]

    def next(self) -> None:
        """Point paho's reconnect loop at the next broker of the list."""
        if len(self.brokers) < 2 or self.closing:
            return
        self.index = (self.index + 1) % len(self.brokers)
        host, port = self.current
        # paho's public host/port setters refuse while its reconnect loop runs (the state is "connection lost", not
        # "new"), and that loop reconnects to these two attributes: there is no server-list API to use instead.
        self.client._host, self.client._port = host, port
        self.failovers += 1
        log.info("failing over to %s:%d", host, port)


def publish_qos1(
    client: mqtt.Client, topic: str, payload: bytes, wait_for_room: Callable[[], bool], retain: bool = False
) -> mqtt.MQTTMessageInfo:
    """Queue one QoS 1 message. While paho's queue is full, call ``wait_for_room`` and try again; it returns False to
    give up (the returned info's ``rc`` then says why). ``MQTT_ERR_NO_CONN`` is success at QoS 1: paho keeps the
    message and sends it after reconnecting."""
    while True:
        info = client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return info
        if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE or not wait_for_room():
            return info


def published(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether :func:`publish_qos1` queued the message."""
    return info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)


def _text(path: object) -> str | None:
    return None if path is None else str(path)
