"""Replay the household data over MQTT as one meter or a fleet, in time order, at QoS 1.

By default only the held-out part of the chronological split is replayed, so a device is scored on minutes no model
was trained on. Missing rows go out with nulls, so the device meets the real outages. paho's queue limits are
respected: when its queue is full the replay waits for acknowledgements, it never drops a reading.

Run ``python -m simulator.replay --help``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.contract import MEASUREMENTS
from device.mqtt.settings import BrokerSettings
from device.options import build_parser as build_options_parser
from device.options import option, parse_options
from device.wire import DEFAULT_PREFIX, encode_reading, reading_topic, timestamps
from simulator.publisher import AckingPublisher
from train.data import Measurements, held_out_start, load_measurements

log = logging.getLogger(__name__)
BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay, to where, how fast."""

    data: Path = option(
        BUNDLED_DATA,
        "raw UCI file (.txt or the .zip holding it) or the cleaned CSV",
        shown="the bundled slice",
        exists=True,
    )
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    speed: float = option(0.0, "1 = real time, 60 = an hour a minute, 0 = as fast as the broker acknowledges")
    #: First and last (exclusive) timestamp replayed, ISO; None = the held-out part of the split.
    start: str | None = option(
        None,
        "first timestamp to replay, e.g. 2007-05-03 or 2007-05-03T12:00",
        shown="the start of the held-out part of the split",
    )
    end: str | None = option(None, "stop before this timestamp", shown="the end of the data")
    #: The held-out part of the full file is years long.
    days: float | None = option(None, "replay at most this many days from the start", shown="no limit")
    meters: int = option(1, "number of meters publishing at once, house1..N")
    #: Meter k starts this many minutes after meter k-1, so the fleet does not send identical readings.
    meter_offset_minutes: int = option(
        1440,
        "minutes of data between one meter's first reading and the next "
        "meter's; every meter replays the same number of readings",
        flag="--meter-offset",
        shown="1440, a day",
    )
    meter_id_prefix: str = option("house", "meter ids are this plus 1..N")
    topic_prefix: str = option(DEFAULT_PREFIX, "first topic level: <prefix>/<meter_id>/reading", flag="--prefix")
    client_id: str = option("wattcast-replay", "MQTT client id of the replay")
    max_inflight: int = option(100, "unacknowledged QoS 1 messages paho sends at once")
    #: Beyond it, publish() says MQTT_ERR_QUEUE_SIZE and the replay waits.
    max_queued: int = option(1000, "messages paho holds before the replay waits for acknowledgements (it never drops)")
    ack_timeout_s: float = option(60.0, "seconds to wait for the last acknowledgements", flag="--ack-timeout")
    #: With a consumer count (see :func:`replay`), stay at most this many readings ahead of it: a broker drops
    #: QoS 1 messages for a slow subscriber beyond its queue limit (Mosquitto's default max_queued_messages 1000).
    max_lead: int = option(800, cli=False)
    progress: bool = option(True, "a progress bar (there is none anyway when stderr is not a terminal)")

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as acknowledged), got {self.speed}")
        if self.meters < 1 or self.meter_offset_minutes < 0:
            raise ValueError(
                f"need meters >= 1 and meter_offset_minutes >= 0, got {self.meters}/{self.meter_offset_minutes}"
            )


@dataclass(frozen=True)
class ReplayResult:
    """What happened: every reading is either acknowledged, refused by the broker, or still unacknowledged."""

    published: int
    acknowledged: int
    refused: int
    #: How often paho's queue was full and the replay waited instead of dropping.
    queue_full_waits: int
    meters: tuple[str, ...]
    first_ts: str
    last_ts: str
    seconds: float

    @property
    def complete(self) -> bool:
        return self.acknowledged == self.published


def _minute(iso: str) -> int:
    return int(np.datetime64(iso, "m").astype(np.int64))


def load_readings(config: ReplayConfig) -> Measurements:
    """The readings of ``config.data`` between ``start`` and ``end`` (default: the held-out part of the split),
    at most ``days`` long, with NaN where the meter was silent."""
    loaded = load_measurements(config.data)
    minutes = loaded.minutes
    lo = held_out_start(len(loaded)) if config.start is None else int(np.searchsorted(minutes, _minute(config.start)))
    hi = len(loaded) if config.end is None else int(np.searchsorted(minutes, _minute(config.end)))
    if config.days is not None:
        hi = min(hi, lo + int(config.days * 24 * 60 / loaded.step_minutes))
    if hi <= lo:
        raise ValueError(f"no readings in {config.start} .. {config.end} of {config.data}")
    return loaded.rows(slice(lo, hi))


def fleet_starts(n_rows: int, meters: int, offset: int) -> tuple[list[int], int]:
    """First row of each meter and the number of readings each replays (the same for all, so the load is even)."""
    length = n_rows - (meters - 1) * offset
    if length <= 0:
        raise ValueError(
            f"{meters} meters {offset} minutes apart need more than {n_rows} readings; "
            "lower --meters or --meter-offset, or widen --start/--end"
        )
    return [k * offset for k in range(meters)], length


def replay(
    config: ReplayConfig, readings: Measurements | None = None, consumed: Callable[[], int] | None = None
) -> ReplayResult:
    """Publish ``readings`` (default: :func:`load_readings`) for every meter and wait for the acknowledgements.

    ``consumed``, if given, tells how many readings the subscriber has taken so far (the demo reads it from the
    agent's metrics); the replay then waits whenever it is ``config.max_lead`` readings ahead, so nothing is
    published faster than it can be delivered.
    """
    readings = load_readings(config) if readings is None else readings
    starts, length = fleet_starts(len(readings), config.meters, config.meter_offset_minutes)
    meters = tuple(f"{config.meter_id_prefix}{k + 1}" for k in range(config.meters))
    topics = [reading_topic(m, config.topic_prefix) for m in meters]
    stamps = timestamps(readings.minutes)
    values = np.stack([readings.values[m] for m in MEASUREMENTS], axis=1)
    log.info(
        "replaying %d readings x %d meters (%s .. %s) to %s at speed %s",
        length,
        len(meters),
        stamps[0],
        stamps[starts[-1] + length - 1],
        config.broker.url,
        config.speed or "max",
    )

    publisher = AckingPublisher(config.broker, config.client_id, config.max_inflight, config.max_queued)
    began = time.monotonic()
    try:
        with tqdm(
            total=length * len(meters), unit="msg", desc="replay", disable=None if config.progress else True
        ) as bar:
            for step in range(length):
                if config.speed > 0:
                    _sleep_until(began + step * 60.0 / config.speed)
                if consumed is not None:
                    _wait_for_consumer(consumed, publisher.published - config.max_lead + len(topics))
                for topic, start in zip(topics, starts):
                    row = start + step
                    publisher.publish(topic, encode_reading(str(stamps[row]), dict(zip(MEASUREMENTS, values[row]))))
                bar.update(len(topics))
                if step % 500 == 0:
                    bar.set_postfix(acked=publisher.acknowledged)
        if not publisher.wait_all(config.ack_timeout_s):
            log.warning(
                "%d of %d readings still unacknowledged after %.0f s",
                publisher.published - publisher.settled,
                publisher.published,
                config.ack_timeout_s,
            )
    finally:
        publisher.close()
    result = ReplayResult(
        publisher.published,
        publisher.acknowledged,
        publisher.refused,
        publisher.queue_full_waits,
        meters,
        str(stamps[0]),
        str(stamps[starts[-1] + length - 1]),
        time.monotonic() - began,
    )
    log.info(
        "published %d, acknowledged %d, refused %d in %.1f s (paho queue full %d times)",
        result.published,
        result.acknowledged,
        result.refused,
        result.seconds,
        result.queue_full_waits,
    )
    return result


def _wait_for_consumer(consumed: Callable[[], int], at_least: int, poll_s: float = 0.05) -> None:
    while consumed() < at_least:
        time.sleep(poll_s)


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


DESCRIPTION = """Publish household power readings to meter/<meter_id>/reading at QoS 1, in time order, as one meter
or a fleet. Default: the held-out part of the chronological split of the bundled 14-day slice."""


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(ReplayConfig, "python -m simulator.replay", DESCRIPTION, log_level=None)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = replay(parse_options(ReplayConfig, argv, build_parser()))
    print(
        f"published {result.published}  acknowledged {result.acknowledged}  refused {result.refused}  "
        f"meters {len(result.meters)}  {result.first_ts} .. {result.last_ts}  {result.seconds:.1f} s"
    )
    return 0 if result.complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
