"""How the simulator reaches a broker: URL (or a failover list of them), protocol version, session, credentials
and TLS, in one dataclass.

Passwords never go on the command line (other users see it in ``ps``): they come from a file or the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from device.mqtt.settings import addresses, is_tls, split_urls
from device.options import option

#: Not the agent's WATTCAST_USERNAME/WATTCAST_PASSWORD: the replay logs in as its own user (see deploy/acl).
USERNAME_ENV = "WATTCAST_SIMULATOR_USERNAME"
PASSWORD_ENV = "WATTCAST_SIMULATOR_PASSWORD"
PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``mqtts://`` (or a CA file) turns TLS on."""

    url: str = option(
        "mqtt://127.0.0.1:1883",
        "broker URL, mqtt://host:port or mqtts://host:port for TLS; a "
        "comma-separated list (e.g. the nodes of a NATS cluster) fails over to the next URL whenever "
        "the connection drops or cannot be made",
        flag="--broker",
    )
    mqtt_version: str = option(
        "5", "MQTT version: 5 or 3.1.1 (e.g. for amqtt, which refuses 5)", choices=sorted(PROTOCOLS)
    )
    #: MQTT 3.1.1 ``clean_session=False``: the broker keeps the session across reconnects (and failovers), as the
    #: fleet's meters connect to NATS, which speaks 3.1.1 only.
    persistent_session: bool = option(False, cli=False)
    username: str | None = option(None, "login name; none = anonymous", shown=f"${USERNAME_ENV}")
    password_file: Path | None = option(
        None, "file holding the password; never pass it on the command line", shown=f"${PASSWORD_ENV}"
    )
    ca_file: Path | None = option(None, "CA certificate to verify the broker; turns TLS on", shown="none")
    cert_file: Path | None = option(None, "client certificate for TLS client authentication", shown="none")
    key_file: Path | None = option(None, "private key of --cert-file", shown="none")

    def __post_init__(self) -> None:
        if self.mqtt_version not in PROTOCOLS:
            raise ValueError(f"mqtt_version must be one of {sorted(PROTOCOLS)}, got {self.mqtt_version!r}")
        split_urls(self.url)  # raises ValueError naming a malformed list
        if self.persistent_session and self.mqtt_version != "3.1.1":
            raise ValueError(
                "persistent_session is MQTT 3.1.1's clean_session=False; MQTT 5 would need a session "
                "expiry, which the simulator does not set"
            )

    @property
    def urls(self) -> list[str]:
        """The broker URLs in failover order."""
        return split_urls(self.url)

    @property
    def tls(self) -> bool:
        return is_tls(self.urls) or self.ca_file is not None

    @property
    def brokers(self) -> list[tuple[str, int]]:
        """(host, port) of every URL, in failover order."""
        return addresses(self.urls, self.tls)

    @property
    def host(self) -> str:
        """The first broker's host."""
        return self.brokers[0][0]

    @property
    def port(self) -> int:
        """The first broker's port."""
        return self.brokers[0][1]

    def credentials(self) -> tuple[str, str | None] | None:
        """(username, password) from the settings, the password file or the environment; None for anonymous."""
        username = self.username or os.environ.get(USERNAME_ENV)
        if not username:
            return None
        if self.password_file is not None:
            return username, self.password_file.read_text().strip()
        return username, os.environ.get(PASSWORD_ENV)

    def client(self, client_id: str) -> mqtt.Client:
        """A paho client configured with these settings (not yet connected)."""
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=PROTOCOLS[self.mqtt_version],
            clean_session=not self.persistent_session if self.mqtt_version == "3.1.1" else None,
        )
        if (creds := self.credentials()) is not None:
            client.username_pw_set(*creds)
        if self.tls:
            client.tls_set(ca_certs=_str(self.ca_file), certfile=_str(self.cert_file), keyfile=_str(self.key_file))
        return client


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
