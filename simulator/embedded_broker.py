"""A zero-install MQTT broker for the demo: amqtt, in this process, on its own thread and asyncio loop.

A demo default only, never what the tests trust. Facts measured with amqtt 0.12.1: the ``Broker`` must be
constructed inside the running loop; its default config binds 0.0.0.0:1883, so we bind 127.0.0.1 on a free port;
it refuses MQTT 5 (clients must speak 3.1.1); with anonymous clients it keeps no offline sessions; and it loses
in-flight messages on a crash. For anything real, use Mosquitto (``--broker``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """True if something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def broker_config(port: int) -> dict:
    """amqtt's config: one TCP listener on 127.0.0.1, anonymous clients, and none of the chatty default plugins
    (the packet logger logs every packet; $SYS would publish to an empty room)."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """Start with :meth:`start` (or ``with``), connect to :attr:`url` with MQTT 3.1.1, stop with :meth:`stop`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        for chatty in ("amqtt", "transitions"):  # both log every session state change at INFO
            logging.getLogger(chatty).setLevel(logging.WARNING)
        started: Future[None] = Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(started),), name="amqtt-broker", daemon=True
        )
        self._thread.start()
        started.result(timeout=START_TIMEOUT_S)  # re-raises the broker's start-up error here
        log.info("embedded amqtt broker listening on %s (MQTT 3.1.1 only, demo use)", self.url)
        return self

    async def _serve(self, started: Future[None]) -> None:
        from amqtt.broker import Broker  # the optional "demo" extra: only needed when no broker was given

        try:
            broker = Broker(broker_config(self.port))  # inside the running loop, as amqtt requires
            await broker.start()
            self._stop = asyncio.Event()
        except Exception as exc:  # hand any start-up failure to the caller's thread
            started.set_exception(exc)
            return
        started.set_result(None)
        await self._stop.wait()
        await broker.shutdown()

    def stop(self) -> None:
        if self._loop is None or self._thread is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=START_TIMEOUT_S)
        self._loop.close()
        self._loop = self._thread = self._stop = None
        log.info("embedded broker stopped")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
