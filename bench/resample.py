"""What real meters cost per sample, side by side with today's path (a wattcast JSON reading, one a minute).

``python -m bench.resample --help``. Each row is the median over ``--repeats`` runs of ``--samples`` messages, in µs
per message: the wattcast parse (today's path), the resampler alone (a 1 Hz stream of one meter), and the whole
intake (decode, unit, time, counters, resampler) for a 1 Hz Shelly Gen2 stream and a Tasmota stream. The issue's goal
is the resampler adding at most 5 µs per sample: its row minus the empty-call row. Prints a Markdown table.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from device.clock import HouseholdTime
from device.options import build_parser, option, parse_options
from device.readings import DEFAULT_LIMITS
from device.sources.intake import SourceIntake
from device.sources.reader import WATTCAST, Source, SourceReader
from device.sources.resample import Resampler
from device.wire import encode_reading

T0 = 1_795_000_000.0  # 2026-11-18, inside the default timestamp window


@dataclass(frozen=True)
class ResampleBenchConfig:
    samples: int = option(20_000, "messages per run")
    repeats: int = option(7, "runs per row; the table shows their median")


def per_message_us(make: Callable[[], Callable[[int], object]], samples: int, repeats: int) -> float:
    """Median CPU µs per call of a fresh ``make()`` over ``samples`` calls."""
    runs = []
    for _ in range(repeats):
        call = make()
        started = time.thread_time_ns()  # CPU time: on a shared machine, wall time would count the others' work
        for i in range(samples):
            call(i)
        runs.append((time.thread_time_ns() - started) / samples / 1e3)
    return statistics.median(runs)


def _wattcast() -> Callable[[int], object]:
    payloads = [
        encode_reading(
            f"2026-11-18T{h:02d}:{m:02d}:00", {k: 0.5 for k in ("gap", "grp", "v", "gi", "sm1", "sm2", "sm3")}
        )
        for h in range(24)
        for m in range(60)
    ]
    # built once, as the agent's intake builds it: the timed call is the decode of one message
    reader = SourceReader.build(Source(WATTCAST, topic="meter/+/reading"), HouseholdTime("UTC"), DEFAULT_LIMITS)
    return lambda i: reader.decode("meter/m1/reading", payloads[i % len(payloads)], T0 + 86_400 * 30)


def _resampler() -> Callable[[int], object]:
    resampler = Resampler(grace_s=5.0)
    return lambda i: resampler.add("shelly-gen2", "m1", T0 + i, 0.4 + (i % 7) * 0.1, T0 + i)


def _intake(
    source: str, message: Callable[[int], tuple[str, bytes]], samples: int
) -> Callable[[], Callable[[int], object]]:
    messages = [message(i) for i in range(samples)]  # built once, outside the timed loop

    def make() -> Callable[[int], object]:
        intake = SourceIntake((Source.parse(source),), HouseholdTime("Europe/Paris"), DEFAULT_LIMITS)
        return lambda i: intake.read(*messages[i], T0 + i)

    return make


def _gen2(i: int) -> tuple[str, bytes]:
    status = {"ts": T0 + i, "em:0": {"total_act_power": 400 + i % 7}}
    body = {"src": "pro3em", "method": "NotifyStatus", "params": status}
    return "pro3em/events/rpc", json.dumps(body).encode()


def _tasmota(i: int) -> tuple[str, bytes]:
    seconds = int(T0 + i + 3600)  # Paris wall clock in winter
    wall = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return "tele/plug1/SENSOR", json.dumps({"Time": wall, "ENERGY": {"Power": 400 + i % 7}}).encode()


def run(config: ResampleBenchConfig) -> list[tuple[str, float]]:
    rows = [
        ("wattcast JSON parse (today's path)", _wattcast),
        ("the timing loop itself (an empty call)", lambda: lambda i: None),
        ("resampler alone (1 Hz, one meter)", _resampler),
        ("shelly-gen2 intake, 1 Hz (decode + resample)", _intake("shelly-gen2", _gen2, config.samples)),
        ("tasmota intake, 1 Hz (decode + local time + resample)", _intake("tasmota", _tasmota, config.samples)),
    ]
    return [(label, per_message_us(make, config.samples, config.repeats)) for label, make in rows]


def table(rows: list[tuple[str, float]]) -> str:
    baseline = rows[0][1]
    lines = ["| path | CPU µs per message (median) | vs today's parse |", "|---|---:|---:|"]
    lines += [f"| {label} | {us:.2f} | {us / baseline:.2f}x |" for label, us in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        ResampleBenchConfig,
        argv,
        build_parser(ResampleBenchConfig, "python -m bench.resample", __doc__, log_level=None),
    )
    print(table(run(config)))


if __name__ == "__main__":
    main()
