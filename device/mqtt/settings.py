"""How every client here reaches a broker: URL (or a failover list of them), protocol version, session, credentials and
TLS, in one dataclass that the agent, the simulator and the benchmarks share.

``mqtt://host:port`` or ``mqtts://host:port``, or a comma-separated list of them (the nodes of a NATS cluster) to fail
over along. Passwords never go on the command line (other users see it in ``ps``): they come from a file (its first
line) or the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from paho.mqtt.enums import MQTTProtocolVersion

from device.options import option

#: The versions the CLI offers, as paho knows them.
PROTOCOLS = {"5": MQTTProtocolVersion.MQTTv5, "3.1.1": MQTTProtocolVersion.MQTTv311}
#: The simulator's own login (see deploy/acl): not the agent's WATTCAST_USERNAME/WATTCAST_PASSWORD.
SIMULATOR_USERNAME_ENV = "WATTCAST_SIMULATOR_USERNAME"
SIMULATOR_PASSWORD_ENV = "WATTCAST_SIMULATOR_PASSWORD"


def split_urls(text: str) -> list[str]:
    """The URLs of a comma-separated list, in failover order; raises ValueError unless there is at least one and all
    are ``mqtt://`` or all ``mqtts://``."""
    urls = [url.strip() for url in text.split(",") if url.strip()]
    schemes = {urlsplit(url).scheme for url in urls}
    if not urls or not schemes <= {"mqtt", "mqtts"} or len(schemes) != 1:
        raise ValueError(f"broker must be mqtt:// or mqtts:// URLs (all of one scheme), got {text!r}")
    return urls


def read_password_file(path: Path) -> str:
    """The password a file holds: its first line (without the line break; an empty file is an empty password)."""
    lines = Path(path).read_text().splitlines()
    return lines[0] if lines else ""


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``mqtts://`` (or a CA file) turns TLS on."""

    url: str = option(
        "mqtt://127.0.0.1:1883",
        "broker URL, mqtt://host:port or mqtts://host:port for TLS; a comma-separated list (e.g. the nodes of a NATS "
        "cluster) fails over to the next URL whenever the connection drops or cannot be made",
        flag="--broker",
    )
    mqtt_version: str = option(
        "5", "MQTT version: 5 or 3.1.1 (e.g. for amqtt, which refuses 5)", choices=["3.1.1", "5"]
    )
    #: MQTT 3.1.1 ``clean_session=False``: the broker keeps the session across reconnects (and failovers), as the
    #: fleet's meters connect to NATS, which speaks 3.1.1 only.
    persistent_session: bool = option(False, cli=False)
    username: str | None = option(None, "login name; none = anonymous", shown=f"${SIMULATOR_USERNAME_ENV}")
    password_file: Path | None = option(
        None,
        "file whose first line is the password; never pass it on the command line",
        shown=f"${SIMULATOR_PASSWORD_ENV}",
    )
    ca_file: Path | None = option(None, "CA certificate to verify the broker; turns TLS on", shown="none")
    cert_file: Path | None = option(None, "client certificate for TLS client authentication", shown="none")
    key_file: Path | None = option(None, "private key of --cert-file", shown="none")
    #: A password already read (the agent's, from its own sources); never shown, never on the command line.
    password: str | None = field(default=None, repr=False, metadata={"help": "", "cli": False})
    #: The environment variables the login falls back to (the agent passes its own, WATTCAST_USERNAME/PASSWORD).
    username_env: str = option(SIMULATOR_USERNAME_ENV, cli=False)
    password_env: str = option(SIMULATOR_PASSWORD_ENV, cli=False)

    def __post_init__(self) -> None:
        if self.mqtt_version not in PROTOCOLS:
            raise ValueError(f"mqtt_version must be 5 or 3.1.1, got {self.mqtt_version!r}")
        split_urls(self.url)  # raises ValueError naming a malformed list
        if self.persistent_session and self.mqtt_version != "3.1.1":
            raise ValueError(
                "persistent_session is MQTT 3.1.1's clean_session=False; under MQTT 5 the session lives as long as "
                "the session expiry the client asks for"
            )

    @property
    def protocol(self) -> MQTTProtocolVersion:
        return PROTOCOLS[self.mqtt_version]

    @property
    def v5(self) -> bool:
        return self.protocol is MQTTProtocolVersion.MQTTv5

    @property
    def urls(self) -> list[str]:
        """The broker URLs in failover order."""
        return split_urls(self.url)

    @property
    def tls(self) -> bool:
        return urlsplit(self.urls[0]).scheme == "mqtts" or self.ca_file is not None

    @property
    def brokers(self) -> list[tuple[str, int]]:
        """(host, port) of every URL, in failover order; the port defaults to MQTT's (8883 with TLS)."""
        default = 8883 if self.tls else 1883
        return [(url.hostname or "127.0.0.1", url.port or default) for url in map(urlsplit, self.urls)]

    @property
    def host(self) -> str:
        """The first broker's host."""
        return self.brokers[0][0]

    @property
    def port(self) -> int:
        """The first broker's port."""
        return self.brokers[0][1]

    def credentials(self, environ: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
        """(username, password) from the settings, the password file or the environment; None for anonymous."""
        environ = os.environ if environ is None else environ
        username = self.username or environ.get(self.username_env)
        if not username:
            return None
        if self.password is not None:
            return username, self.password
        if self.password_file is not None:
            return username, read_password_file(self.password_file)
        return username, environ.get(self.password_env)
