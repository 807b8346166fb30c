"""How the simulator reaches a broker: URL, protocol version, credentials and TLS, in one dataclass.

Passwords never go on the command line (other users see it in ``ps``): they come from a file or the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from device.options import option

#: Not the agent's WATTCAST_USERNAME/WATTCAST_PASSWORD: the replay logs in as its own user (see deploy/acl).
USERNAME_ENV = "WATTCAST_SIMULATOR_USERNAME"
PASSWORD_ENV = "WATTCAST_SIMULATOR_PASSWORD"
PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``mqtts://`` (or a CA file) turns TLS on."""

    url: str = option("mqtt://127.0.0.1:1883", "broker URL, mqtt://host:port or mqtts://host:port for TLS",
                      flag="--broker")
    mqtt_version: str = option("5", "MQTT version: 5 or 3.1.1 (e.g. for amqtt, which refuses 5)",
                               choices=sorted(PROTOCOLS))
    username: str | None = option(None, "login name; none = anonymous", shown=f"${USERNAME_ENV}")
    password_file: Path | None = option(None, "file holding the password; never pass it on the command line",
                                        shown=f"${PASSWORD_ENV}")
    ca_file: Path | None = option(None, "CA certificate to verify the broker; turns TLS on", shown="none")
    cert_file: Path | None = option(None, "client certificate for TLS client authentication", shown="none")
    key_file: Path | None = option(None, "private key of --cert-file", shown="none")

    def __post_init__(self) -> None:
        if self.mqtt_version not in PROTOCOLS:
            raise ValueError(f"mqtt_version must be one of {sorted(PROTOCOLS)}, got {self.mqtt_version!r}")
        if urlsplit(self.url).scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {self.url!r}")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

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
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=PROTOCOLS[self.mqtt_version])
        if (creds := self.credentials()) is not None:
            client.username_pw_set(*creds)
        if self.tls:
            client.tls_set(
                ca_certs=_str(self.ca_file), certfile=_str(self.cert_file), keyfile=_str(self.key_file)
            )
        return client


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
