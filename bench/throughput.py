"""The agent's throughput and added latency through a real Mosquitto at QoS 1, and its memory.

``python -m bench.throughput --help``. Starts Mosquitto on a free port (tests/brokers.py, with an unbounded queue so
the broker never drops), runs ``python device/agent.py`` as a child process per model and variant (one message per
prediction, or one list per batch with ``--batch-predictions``), and
1. queues ``--readings`` readings over ``--meters`` meters at the broker while the agent is away (its persistent
   session keeps them), then starts it: readings/s while it drains that backlog, from its first reading to its last
   (zero loss: every reading accepted and predicted). One Python publisher could not offer readings faster than the
   agent takes them, so a live flood would measure the publisher; its rate is shown beside, for scale;
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
from simulator.brokers import MosquittoBroker

log = logging.getLogger(__name__)
#: label -> extra agent options; every model runs in each.
VARIANTS: dict[str, tuple[str, ...]] = {
    "one message per prediction": (),
    "one list per batch": ("--batch-predictions",),
}


@dataclass(frozen=True)
class ThroughputBenchConfig:
    assets: Path = Path("firmware_assets")
    models: tuple[str, ...] = ("lstm_int8", "linreg")
    readings: int = 20_000
    meters: int = 10
    rate: float = 1000.0
    seconds: float = 5.0
    agent_args: tuple[str, ...] = ()  # for every agent, e.g. ("--runtime", "tflm")


@dataclass(frozen=True)
class Row:
    model: str
    variant: str
    offered_per_s: float
    readings_per_s: float
    lost: int
    e2e_p50_us: float
    e2e_p99_us: float
    rss_mb: float


def _agent(broker: MosquittoBroker, config: ThroughputBenchConfig, model: str, args: tuple[str, ...],
           work: Path) -> AgentChild:
    agent = AgentChild(broker, config.assets, (model,), work, (*config.agent_args, *args))
    agent.wait_accepted(0, 60)
    time.sleep(0.2)  # the SUBACK follows the CONNACK
    return agent


def _drain_rate(agent: AgentChild, count: int, timeout_s: float = 600.0) -> tuple[float, dict]:
    """Readings/s from the agent's first accepted reading to its ``count``-th, read off its metrics file (written
    every 20 ms here)."""
    deadline = time.monotonic() + timeout_s
    first = None
    while time.monotonic() < deadline and agent.process.poll() is None:
        snapshot = agent.metrics()
        accepted = snapshot["readings"]["accepted"] if snapshot else 0
        if accepted and first is None:
            first = (time.perf_counter(), accepted)
        if accepted >= count:
            return (count - first[1]) / (time.perf_counter() - first[0]), snapshot
        time.sleep(0.005)
    raise RuntimeError(f"the agent did not take {count} readings")


def bench_model(broker: MosquittoBroker, config: ThroughputBenchConfig, model: str, variant: str,
                work: Path) -> Row:
    flood = synthetic_payloads(config.readings, config.meters)
    paced = synthetic_payloads(int(config.rate * config.seconds), config.meters)
    client = publisher(broker)
    keep_session = ("--session-expiry-s", "600", "--metrics-interval-s", "0.02")
    _agent(broker, config, model, (*VARIANTS[variant], *keep_session), work).stop()  # subscribed, then away
    start = time.perf_counter()
    publish(client, flood, rate=None).wait_for_publish(600)
    offered = len(flood) / (time.perf_counter() - start)
    agent = AgentChild(broker, config.assets, (model,), work, (*config.agent_args, *VARIANTS[variant], *keep_session))
    try:
        readings_per_s, _ = _drain_rate(agent, len(flood))
    finally:
        flooded = agent.stop()
    agent = _agent(broker, config, model, VARIANTS[variant], work)  # a fresh agent: latency not skewed by the flood
    try:
        publish(client, paced, rate=config.rate)
        agent.wait_accepted(len(paced))
    finally:
        paced_metrics = agent.stop()
        client.disconnect()
        client.loop_stop()
    expected_predictions = len(flood) - config.meters
    e2e = paced_metrics["models"][model]["end_to_end_us"]
    return Row(model, variant, offered, readings_per_s, expected_predictions - flooded["models"][model]["predictions"],
               e2e["p50"], e2e["p99"], flooded["process"]["peak_rss_bytes"] / 2**20)


def run(config: ThroughputBenchConfig) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker", extra_config=UNBOUNDED_BROKER).start()
        try:
            return [bench_model(broker, config, model, variant, Path(tmp))
                    for model in config.models for variant in VARIANTS]
        finally:
            broker.stop()


def table(rows: list[Row], config: ThroughputBenchConfig) -> str:
    lines = [f"| model | predictions published as | publisher readings/s | agent readings/s (QoS 1, {config.readings:,} "
             f"over {config.meters} meters) | lost | added latency p50 µs at {config.rate:,.0f}/s | p99 µs | "
             "peak RSS MB |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.model} | {r.variant} | {r.offered_per_s:,.0f} | {r.readings_per_s:,.0f} | {r.lost} | "
              f"{r.e2e_p50_us:,.0f} | {r.e2e_p99_us:,.0f} | {r.rss_mb:,.0f} |" for r in rows]
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
    parser.add_argument("--agent-args", default="", help="extra options for every agent, e.g. '--runtime tflm'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = ThroughputBenchConfig(args.assets, tuple(args.models.split(",")), args.readings, args.meters, args.rate,
                                   args.seconds, tuple(args.agent_args.split()))
    print(table(run(config), config))


if __name__ == "__main__":
    main()
