"""Broker URLs as every client here takes them: ``mqtt://host:port`` or ``mqtts://host:port``, or a comma-separated
list of them (the nodes of a NATS cluster) to fail over along. The agent and the simulator read them alike."""

from __future__ import annotations

from urllib.parse import urlsplit


def split_urls(text: str) -> list[str]:
    """The URLs of a comma-separated list, in failover order; raises ValueError unless there is at least one and all
    are ``mqtt://`` or all ``mqtts://``."""
    urls = [url.strip() for url in text.split(",") if url.strip()]
    schemes = {urlsplit(url).scheme for url in urls}
    if not urls or not schemes <= {"mqtt", "mqtts"} or len(schemes) != 1:
        raise ValueError(f"broker must be mqtt:// or mqtts:// URLs (all of one scheme), got {text!r}")
    return urls


def is_tls(urls: list[str]) -> bool:
    return urlsplit(urls[0]).scheme == "mqtts"


def addresses(urls: list[str], tls: bool) -> list[tuple[str, int]]:
    """(host, port) of every URL, in failover order; the port defaults to MQTT's (8883 with TLS)."""
    return [(url.hostname or "127.0.0.1", url.port or (8883 if tls else 1883)) for url in map(urlsplit, urls)]
