"""The agent's throughput and added latency through a real Mosquitto at QoS 1, and its memory.

``python -m bench.throughput --help``. Starts Mosquitto on a free port (tests/brokers.py, with an unbounded queue so
the broker never drops), runs ``python device/agent.py`` as a child process per model, and
1. floods ``--readings`` readings over ``--meters`` meters as fast as one publisher can: readings/s until the agent
   has taken them all (zero loss: every reading accepted and predicted);
2. paces ``--rate`` readings/s for ``--seconds``: the agent's end-to-end latency (message received to prediction
   published) is the latency it adds.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import UNBOUNDED_BROKER, AgentChild, publish, publisher, synthetic_payloads
from tests.brokers import MosquittoBroker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThroughputBenchConfig:
    assets: Path = Path("firmware_assets")
    models: tuple[str, ...] = ("lstm_int8", "linreg")
    readings: int = 20_000
    meters: int = 10
    rate: float = 1000.0
    seconds: float = 5.0


@dataclass(frozen=True)
class Row:
    model: str
    readings_per_s: float
    lost: int
    e2e_p50_us: float
    e2e_p99_us: float
    rss_mb: float


def bench_model(broker: MosquittoBroker, config: ThroughputBenchConfig, model: str, work: Path) -> Row:
    flood = synthetic_payloads(config.readings, config.meters)
    paced = synthetic_payloads(int(config.rate * config.seconds), config.meters)
    client = publisher(broker)
    agent = AgentChild(broker, config.assets, (model,), work)
    try:
        agent.wait_accepted(0, 60)
        time.sleep(0.2)  # the SUBACK follows the CONNACK
        start = time.perf_counter()
        publish(client, flood, rate=None)
        agent.wait_accepted(len(flood))
        readings_per_s = len(flood) / (time.perf_counter() - start)
    finally:
        flooded = agent.stop()
    agent = AgentChild(broker, config.assets, (model,), work)  # a fresh agent: latency not skewed by the flood
    try:
        agent.wait_accepted(0, 60)
        time.sleep(0.2)
        publish(client, paced, rate=config.rate)
        agent.wait_accepted(len(paced))
    finally:
        paced_metrics = agent.stop()
        client.disconnect()
        client.loop_stop()
    expected_predictions = len(flood) - config.meters
    e2e = paced_metrics["models"][model]["end_to_end_us"]
    return Row(model, readings_per_s, expected_predictions - flooded["models"][model]["predictions"],
               e2e["p50"], e2e["p99"], flooded["process"]["peak_rss_bytes"] / 2**20)


def run(config: ThroughputBenchConfig) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker", extra_config=UNBOUNDED_BROKER).start()
        try:
            return [bench_model(broker, config, model, Path(tmp)) for model in config.models]
        finally:
            broker.stop()


def table(rows: list[Row], config: ThroughputBenchConfig) -> str:
    lines = [f"| model | readings/s (QoS 1, {config.readings:,} over {config.meters} meters) | lost | added latency p50 "
             f"µs at {config.rate:,.0f}/s | p99 µs | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.model} | {r.readings_per_s:,.0f} | {r.lost} | {r.e2e_p50_us:,.0f} | {r.e2e_p99_us:,.0f} | "
              f"{r.rss_mb:,.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    d = ThroughputBenchConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, default=d.assets, help="folder with manifest.json (default: %(default)s)")
    parser.add_argument("--models", default=",".join(d.models), help="models, one agent run each (default: %(default)s)")
    parser.add_argument("--readings", type=int, default=d.readings, help="readings in the flood (default: %(default)s)")
    parser.add_argument("--meters", type=int, default=d.meters, help="meters they come from (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=d.rate, help="paced readings/s for latency (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=d.seconds, help="paced run length (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = ThroughputBenchConfig(args.assets, tuple(args.models.split(",")), args.readings, args.meters, args.rate,
                                   args.seconds)
    print(table(run(config), config))


if __name__ == "__main__":
    main()
