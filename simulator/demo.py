"""The whole loop in one command: assets, a broker, the agent with every model, the held-out data replayed at full
speed, and the report that answers "which model?". Everything it starts, it stops.

The broker: ``--broker URL`` uses that one (Mosquitto, say). Without it, a broker already listening on
localhost:1883 is used; with none there, an embedded amqtt broker is started in this process (MQTT 3.1.1, a demo
default only; see :mod:`simulator.embedded_broker`).

Run ``python -m simulator.demo --help`` (or ``make demo``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.manifest import MANIFEST_NAME, load_manifest
from simulator.agent_process import AgentProcess, AgentRun
from simulator.connection import PROTOCOLS, BrokerSettings
from simulator.embedded_broker import EmbeddedBroker, is_listening
from simulator.predictions import read_prediction_rows
from simulator.recommend import DEFAULT_MARGIN
from simulator.replay import BUNDLED_DATA, ReplayConfig, ReplayResult, add_stream_arguments, replay
from simulator.report import ReportConfig, ReportFiles, write_report

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
LOCAL_BROKER = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class DemoConfig:
    """One end-to-end run."""

    data: Path = BUNDLED_DATA
    assets: Path = REPO / "firmware_assets"
    out_dir: Path = REPO / "runs" / "demo"
    #: None: a broker on localhost:1883 if one listens, else the embedded amqtt broker.
    broker: str | None = None
    mqtt_version: str = "5"
    #: None: every model in the manifest.
    models: tuple[str, ...] | None = None
    start: str | None = None
    end: str | None = None
    #: The held-out part of the full file is years long: a month answers the question in minutes.
    days: float | None = 31.0
    meters: int = 1
    agent_id: str = "demo"
    #: How long the agent may take to work through the readings after the replay is acknowledged.
    drain_timeout_s: float = 300.0
    margin: float = DEFAULT_MARGIN
    progress: bool = True


def ensure_assets(config: DemoConfig) -> None:
    """Train the small models and convert them if the assets are missing (once, on a clone without them)."""
    if (config.assets / MANIFEST_NAME).is_file():
        return
    run_dir = "runs/demo"
    log.info("no %s in %s: running python -m train and python -m convert.quantize (once)", MANIFEST_NAME,
             config.assets)
    for command in (["train", "--data", str(config.data), "--out", run_dir, "--models", "persistence", "trend_line",
                     "linreg", "seed_lstm"],
                    ["convert.quantize", "--run-dir", run_dir, "--out", str(config.assets)]):
        subprocess.run([sys.executable, "-m", *command], check=True, cwd=REPO,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@contextlib.contextmanager
def broker_for(config: DemoConfig) -> Iterator[tuple[BrokerSettings, str]]:
    """The broker to use and a word on which it is; an embedded one is stopped on exit."""
    if config.broker:
        yield BrokerSettings(config.broker, config.mqtt_version), f"given ({config.broker})"
    elif is_listening("127.0.0.1", 1883):
        yield BrokerSettings(LOCAL_BROKER, config.mqtt_version), f"already running ({LOCAL_BROKER})"
    else:
        with EmbeddedBroker() as embedded:
            yield BrokerSettings(embedded.url, "3.1.1"), f"embedded amqtt ({embedded.url}, MQTT 3.1.1)"


@dataclass(frozen=True)
class DemoResult:
    """What one run produced: the report's files, the replay's counts and the agent's final metrics."""

    report: ReportFiles
    replay: ReplayResult
    metrics: dict[str, Any]
    predictions_file: Path


def run_demo(config: DemoConfig) -> DemoResult:
    """Assets → broker → agent → replay → wait for the agent → stop it → report."""
    ensure_assets(config)
    manifest = load_manifest(config.assets)
    models = config.models or tuple(manifest.models)
    work_dir = config.out_dir / "agent"
    with broker_for(config) as (broker, broker_kind):
        log.info("broker: %s", broker_kind)
        agent = AgentProcess(AgentRun(broker, config.assets, models, work_dir, config.agent_id))
        with agent:
            result = replay(ReplayConfig(data=config.data, broker=broker, speed=0.0, start=config.start,
                                         end=config.end, days=config.days, meters=config.meters, progress=config.progress,
                                         client_id=f"{config.agent_id}-replay"), consumed=agent.received)
            agent.wait_until_received(result.published, config.drain_timeout_s)
        # The agent writes its final metrics at exit: only then is every pending prediction in them.
        metrics = agent.metrics()
    if metrics is None:
        raise RuntimeError(f"the agent left no metrics in {agent.run.metrics_file}")
    run = {
        "data": config.data.name,
        "replayed": f"{result.first_ts} .. {result.last_ts}",
        "meters": len(result.meters),
        "readings published": result.published,
        "acknowledged": result.acknowledged,
        "broker": broker_kind,
        "models": len(models),
    }
    files = write_report(metrics, read_prediction_rows(agent.run.predictions_file), manifest, config.out_dir,
                         ReportConfig(margin=config.margin), run)
    return DemoResult(files, result, metrics, agent.run.predictions_file)


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="python -m simulator.demo",
        description="Run the whole loop on this machine: convert the models if needed, start a broker (or use one), "
        "start the device agent with every model, replay the held-out data at full speed, and write the report "
        "that compares the models and recommends one per device class.",
    )
    add_stream_arguments(parser, default_days=d.days)
    parser.add_argument("--assets", type=Path, default=d.assets,
                        help="firmware assets folder with manifest.json; converted first if missing")
    parser.add_argument("--out", type=Path, default=d.out_dir, dest="out_dir",
                        help="where the report and the agent's files go (default: runs/demo)")
    parser.add_argument("--broker", help="use this broker (mqtt://host:port); default: localhost:1883 if something "
                        "listens there, else an embedded amqtt broker on a free port")
    parser.add_argument("--mqtt-version", choices=sorted(PROTOCOLS), default=d.mqtt_version,
                        help="MQTT version with --broker or localhost:1883 (the embedded broker always uses 3.1.1)")
    parser.add_argument("--models", help="comma-separated model names (default: every model in the manifest)")
    parser.add_argument("--agent-id", default=d.agent_id, help="the agent's id (default: demo)")
    parser.add_argument("--drain-timeout", type=float, default=d.drain_timeout_s, dest="drain_timeout_s",
                        help="seconds the agent may take to catch up after the replay (default: 300)")
    parser.add_argument("--margin", type=float, default=d.margin,
                        help="relative MSE margin within which a cheaper model counts as good as the best (default 0.02)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM (e.g. from `timeout`) unwinds like an exception, so the agent and the broker we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = build_parser().parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",")) if args.models else None
    config = DemoConfig(**{**vars(args), "models": models})
    print(f"report: {run_demo(config).report.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
