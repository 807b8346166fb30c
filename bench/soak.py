"""Soak: hundreds of thousands of readings from 50 meters through one agent process at full speed.

``python -m bench.soak --help``. Starts Mosquitto on a free port (simulator/brokers.py, with an unbounded queue so the
broker never drops), runs ``python device/agent.py`` with all ``--models`` as a child process, floods it with
``--readings`` readings round-robin over ``--meters`` meters as fast as one publisher goes (but at most ``--max-lead``
readings ahead of what the agent took: without that the broker pushes its whole queue into the agent's inbox, which
``--max-lead 0`` shows), and while the agent works through them samples its resident memory (``VmRSS`` of its PID)
and its metrics file. Checks:
- no leak: RSS growth after warm-up (the first quarter: the latency rings fill then) stays under ``--max-growth-mb``;
- stable latency: each model's p99 over the first quarter against the last quarter (the agent's latency window is set
  to a quarter of the readings, so each snapshot covers one quarter);
- zero loss: every reading accepted exactly once, nothing rejected, and every model predicted for every reading but
  each meter's first (a prediction needs two readings).
Prints Markdown tables; exits 1 if a check fails.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.harness import UNBOUNDED_BROKER, bench_agent, publish, publisher, synthetic_payloads, vm_rss_bytes
from device.models.manifest import DEFAULT_ASSETS
from device.options import build_parser, option, parse_options
from simulator.agent_process import AgentProcess
from simulator.brokers import MosquittoBroker
from simulator.publisher import AckingPublisher

MB = 2**20


@dataclass(frozen=True)
class SoakConfig:
    assets: Path = option(DEFAULT_ASSETS, "folder with manifest.json")
    models: tuple[str, ...] = option(("linreg", "persistence"), "models the agent runs side by side")
    readings: int = option(200_000, "readings in all")
    meters: int = option(50, "meters they come from, round-robin")
    max_growth_mb: float = option(10.0, "allowed RSS growth after warm-up, MB")
    max_lead: int = option(5000, "publish at most this many readings ahead of what the agent accepted (0: no limit)")
    sample_s: float = option(1.0, "seconds between samples of RSS and progress")
    stall_timeout_s: float = option(
        60.0,
        "give up when the agent takes no reading for this long (it died or "
        "stalled), not after a fixed time: its speed changes from machine to machine",
    )
    progress: bool = option(True, "a progress bar (only on a terminal)")

    @property
    def quarter(self) -> int:
        return self.readings // 4


@dataclass(frozen=True)
class Sample:
    seconds: float
    accepted: int
    rss_bytes: int
    #: Messages received but not yet handled (the agent's metrics): what the broker pushed ahead of the agent.
    inbox: int


@dataclass
class SoakResult:
    config: SoakConfig
    samples: list[Sample] = field(default_factory=list)
    #: The agent's metrics once it had taken the first quarter, and at the end.
    first_quarter: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)

    @property
    def warm_rss_bytes(self) -> int:
        """RSS at the end of warm-up: the first sample after the first quarter."""
        return next(s.rss_bytes for s in self.samples if s.accepted >= self.config.quarter)

    @property
    def growth_bytes(self) -> int:
        """The most RSS grew past its value at the end of warm-up."""
        after = [s.rss_bytes for s in self.samples if s.accepted >= self.config.quarter]
        return max(after) - self.warm_rss_bytes

    @property
    def lost(self) -> dict[str, int]:
        """Readings not accepted, and predictions missing, per model (all 0 when nothing is lost)."""
        readings = self.final["readings"]
        expected_predictions = self.config.readings - self.config.meters
        return {"readings": self.config.readings - readings["accepted"]} | {
            name: expected_predictions - m["predictions"] for name, m in self.final["models"].items()
        }

    @property
    def extra(self) -> dict[str, int]:
        """Anything the agent counted beyond one acceptance per reading: duplicates, late, rejects."""
        readings = self.final["readings"]
        rejected = dict(self.final["rejected"])
        rejected["not_json"] = rejected.get("not_json", 0) - 1  # the end marker
        return {
            "received_beyond_sent": readings["received"] - self.config.readings - 1,
            "duplicates": readings["duplicates"],
            "late": readings["late"],
            **{reason: n for reason, n in rejected.items() if n},
        }

    @property
    def passed(self) -> bool:
        return (
            not any(self.lost.values())
            and not any(self.extra.values())
            and self.growth_bytes <= self.config.max_growth_mb * MB
        )


def _accepted(agent: AgentProcess) -> int:
    return (agent.metrics() or {}).get("readings", {}).get("accepted", 0)


def _flood(client: AckingPublisher, agent: AgentProcess, messages: list[tuple[str, bytes]], max_lead: int) -> None:
    """Publish as fast as the broker acknowledges, pausing while ``max_lead`` (if set) readings ahead of the agent."""
    chunk = 500
    for start in range(0, len(messages), chunk):
        while max_lead and _accepted(agent) < start - max_lead:
            time.sleep(0.01)
        publish(client, messages[start : start + chunk], rate=None, progress=False)


def _watch(agent: AgentProcess, config: SoakConfig, result: SoakResult) -> None:
    """Sample RSS and progress until the agent has taken every reading."""
    began = last_change = time.monotonic()
    accepted = 0
    with tqdm(total=config.readings, unit="reading", desc="agent", disable=None if config.progress else True) as bar:
        while accepted < config.readings:
            time.sleep(config.sample_s)
            snapshot = agent.metrics() or {}
            now_accepted = snapshot.get("readings", {}).get("accepted", accepted)
            agent.received()  # raises with the agent's log if it died
            result.samples.append(
                Sample(time.monotonic() - began, now_accepted, vm_rss_bytes(agent.pid), snapshot.get("inbox", 0))
            )
            if now_accepted >= config.quarter and not result.first_quarter:
                result.first_quarter = snapshot
            if now_accepted != accepted:
                bar.update(now_accepted - accepted)
                accepted, last_change = now_accepted, time.monotonic()
            elif time.monotonic() - last_change > config.stall_timeout_s:
                raise RuntimeError(
                    f"the agent took no reading for {config.stall_timeout_s:.0f} s ({accepted} of {config.readings})"
                )


def run(config: SoakConfig) -> SoakResult:
    result = SoakResult(config)
    messages = synthetic_payloads(config.readings, config.meters)
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker", extra_config=UNBOUNDED_BROKER).start()
        agent = bench_agent(
            broker,
            config.assets,
            config.models,
            Path(tmp),
            ("--latency-window", str(config.quarter)),
            metrics_interval_s=0.5,
        )
        client = publisher(broker)
        try:
            agent.start()  # online: subscribed
            flood = threading.Thread(target=_flood, args=(client, agent, messages, config.max_lead), daemon=True)
            flood.start()
            _watch(agent, config, result)
            flood.join()
            agent.wait_for_end_marker(client, config.stall_timeout_s)
        finally:
            agent.stop()
            result.final = agent.metrics() or {}  # {}: nothing known, as before the run
            client.close()
            broker.stop()
    return result


def tables(result: SoakResult) -> str:
    c = result.config
    mb = [s.rss_bytes / MB for s in result.samples]
    lines = [
        f"Soak: {c.readings:,} readings over {c.meters} meters, models {','.join(c.models)}, one agent process, "
        f"{result.samples[-1].seconds:.0f} s ({c.readings / result.samples[-1].seconds:,.0f} readings/s), "
        f"publisher at most {f'{c.max_lead:,}' if c.max_lead else 'unlimited'} readings ahead",
        "",
        "| RSS MB: start | end of warm-up (1st quarter) | max after warm-up | end | growth after warm-up | bound "
        "| max inbox | lost | extra |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| {mb[0]:.1f} | {result.warm_rss_bytes / MB:.1f} | {(result.warm_rss_bytes + result.growth_bytes) / MB:.1f}"
        f" | {mb[-1]:.1f} | {result.growth_bytes / MB:.2f} | {c.max_growth_mb:.0f} | "
        f"{max(s.inbox for s in result.samples):,} | {_counts(result.lost)} | {_counts(result.extra)} |",
        "",
        "| model | latency p99 µs, 1st quarter | last quarter | end-to-end p99 µs, 1st quarter | last quarter |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in c.models:
        first, last = result.first_quarter["models"][name], result.final["models"][name]
        lines.append(
            f"| {name} | {first['latency_us']['p99']:,.0f} | {last['latency_us']['p99']:,.0f} | "
            f"{first['end_to_end_us']['p99']:,.0f} | {last['end_to_end_us']['p99']:,.0f} |"
        )
    lines += ["", "| seconds | readings accepted | inbox | RSS MB |", "|---:|---:|---:|---:|"]
    step = max(len(result.samples) // 10, 1)
    lines += [
        f"| {s.seconds:.0f} | {s.accepted:,} | {s.inbox:,} | {s.rss_bytes / MB:.1f} |"
        for s in result.samples[::step] + result.samples[-1:]
    ]
    lines += ["", f"Verdict: {'PASS' if result.passed else 'FAIL'}"]
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def main(argv: list[str] | None = None) -> int:
    config = parse_options(SoakConfig, argv, build_parser(SoakConfig, "python -m bench.soak", __doc__, "WARNING"))
    result = run(config)
    print(tables(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
