"""How the simulator reaches a broker: URL, protocol version, credentials and TLS, in one dataclass.

Passwords never go on the command line (other users see it in ``ps``): they come from a file or the environment.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

#: Not the agent's WATTCAST_USERNAME/WATTCAST_PASSWORD: the replay logs in as its own user (see deploy/acl).
USERNAME_ENV = "WATTCAST_SIMULATOR_USERNAME"
PASSWORD_ENV = "WATTCAST_SIMULATOR_PASSWORD"
PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``mqtts://`` (or a CA file) turns TLS on."""

    url: str = "mqtt://127.0.0.1:1883"
    mqtt_version: str = "5"
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

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

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, default_url: str | None = "mqtt://127.0.0.1:1883") -> None:
        group = parser.add_argument_group("broker")
        group.add_argument("--broker", default=default_url, help=f"broker URL, mqtt://host:port or mqtts://host:port "
                           f"for TLS (default: {default_url or 'see above'})")
        group.add_argument("--mqtt-version", choices=sorted(PROTOCOLS), default="5",
                           help="MQTT version: 5 (default) or 3.1.1 (e.g. for amqtt, which refuses 5)")
        group.add_argument("--username", help=f"login name (default: ${USERNAME_ENV}; none = anonymous)")
        group.add_argument("--password-file", type=Path,
                           help=f"file holding the password (default: ${PASSWORD_ENV}); never pass it on the command line")
        group.add_argument("--ca-file", type=Path, help="CA certificate to verify the broker; turns TLS on (default: none)")
        group.add_argument("--cert-file", type=Path, help="client certificate for TLS client authentication (default: none)")
        group.add_argument("--key-file", type=Path, help="private key of --cert-file (default: none)")

    @classmethod
    def from_args(cls, args: argparse.Namespace, url: str | None = None) -> BrokerSettings:
        return cls(
            url=url or args.broker, mqtt_version=args.mqtt_version, username=args.username, password_file=args.password_file,
            ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file,
        )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
