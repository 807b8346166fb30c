"""The agent's throughput and added latency through a real Mosquitto at QoS 1, and its memory.

``python -m bench.throughput --help``. Starts Mosquitto on a free port (simulator/brokers.py, with an unbounded queue so
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

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import UNBOUNDED_BROKER, bench_agent, publish, publisher, synthetic_payloads
from device.models.manifest import DEFAULT_ASSETS
from device.options import build_parser, option, parse_options
from simulator.agent_process import AgentProcess
from simulator.brokers import MosquittoBroker

log = logging.getLogger(__name__)
#: label -> extra agent options; every model runs in each.
VARIANTS: dict[str, tuple[str, ...]] = {
    "one message per prediction": (),
    "one list per batch": ("--batch-predictions",),
}


@dataclass(frozen=True)
class ThroughputBenchConfig:
    assets: Path = option(DEFAULT_ASSETS, "folder with manifest.json")
    models: tuple[str, ...] = option(("lstm_int8", "linreg"), "models, one agent run each per variant")
    readings: int = option(20_000, "readings in the flood")
    meters: int = option(10, "meters they come from")
    rate: float = option(1000.0, "paced readings/s for the latency run")
    seconds: float = option(5.0, "paced run length in seconds")
    agent_args: tuple[str, ...] = option((), "extra options for every agent, e.g. '--runtime tflm'", separator=None)


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


def _agent(
    broker: MosquittoBroker,
    config: ThroughputBenchConfig,
    model: str,
    args: tuple[str, ...],
    work: Path,
    session_expiry_s: int = 0,
    metrics_interval_s: float = 0.2,
) -> AgentProcess:
    return bench_agent(
        broker, config.assets, (model,), work, (*config.agent_args, *args), metrics_interval_s, session_expiry_s
    )


def _drain_rate(agent: AgentProcess, count: int, timeout_s: float = 600.0) -> float:
    """Readings/s from the agent's first accepted reading to its ``count``-th, read off its metrics file (written
    every 20 ms here)."""
    first = agent.wait_until_received(1, timeout_s, "accepted", poll_s=0.005)
    started = time.perf_counter()
    agent.wait_until_received(count, timeout_s, "accepted", poll_s=0.005)
    return (count - first["readings"]["accepted"]) / (time.perf_counter() - started)


def _written(metrics: dict[str, Any] | None, run: str) -> dict[str, Any]:
    """The final metrics of the ``run`` agent; raises if it never wrote any."""
    if metrics is None:
        raise RuntimeError(f"the {run} run's agent wrote no metrics")
    return metrics


def bench_model(broker: MosquittoBroker, config: ThroughputBenchConfig, model: str, variant: str, work: Path) -> Row:
    flood = synthetic_payloads(config.readings, config.meters)
    paced = synthetic_payloads(int(config.rate * config.seconds), config.meters)
    client = publisher(broker)

    def keeping_session() -> AgentProcess:
        return _agent(broker, config, model, VARIANTS[variant], work, session_expiry_s=600, metrics_interval_s=0.02)

    away = keeping_session().start()  # subscribed, then away
    away.stop()
    start = time.perf_counter()
    publish(client, flood, rate=None)
    client.wait_all(600)
    offered = len(flood) / (time.perf_counter() - start)
    agent = keeping_session().start(wait_online=False)
    try:
        readings_per_s = _drain_rate(agent, len(flood))
    finally:
        agent.stop()
        flooded_or_none = agent.metrics()
    agent = _agent(broker, config, model, VARIANTS[variant], work).start()  # fresh: latency not skewed by the flood
    try:
        publish(client, paced, rate=config.rate)
        agent.wait_until_received(len(paced), 300, "accepted", poll_s=0.05)
    finally:
        agent.stop()
        paced_or_none = agent.metrics()
        client.close()
    flooded, paced_metrics = _written(flooded_or_none, "flood"), _written(paced_or_none, "paced")
    expected_predictions = len(flood) - config.meters
    e2e = paced_metrics["models"][model]["end_to_end_us"]
    return Row(
        model,
        variant,
        offered,
        readings_per_s,
        expected_predictions - flooded["models"][model]["predictions"],
        e2e["p50"],
        e2e["p99"],
        flooded["process"]["peak_rss_bytes"] / 2**20,
    )


def run(config: ThroughputBenchConfig) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker", extra_config=UNBOUNDED_BROKER).start()
        try:
            return [
                bench_model(broker, config, model, variant, Path(tmp))
                for model in config.models
                for variant in VARIANTS
            ]
        finally:
            broker.stop()


def table(rows: list[Row], config: ThroughputBenchConfig) -> str:
    lines = [
        f"| model | predictions published as | publisher readings/s | agent readings/s (QoS 1, {config.readings:,} "
        f"over {config.meters} meters) | lost | added latency p50 µs at {config.rate:,.0f}/s | p99 µs | "
        "peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {r.variant} | {r.offered_per_s:,.0f} | {r.readings_per_s:,.0f} | {r.lost} | "
        f"{r.e2e_p50_us:,.0f} | {r.e2e_p99_us:,.0f} | {r.rss_mb:,.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        ThroughputBenchConfig,
        argv,
        build_parser(ThroughputBenchConfig, "python -m bench.throughput", __doc__, "WARNING"),
    )
    print(table(run(config), config))


if __name__ == "__main__":
    main()
