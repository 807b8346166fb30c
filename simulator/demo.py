"""The whole loop in one command: assets, a broker, the agent with every model, the held-out data replayed at full
speed, and the report that answers "which model?". Everything it starts, it stops.

The broker: without ``--broker`` the demo starts its own on a free port, so nothing else on the machine shares it: a
``mosquitto`` process when the binary is installed, else an embedded amqtt broker in this process (MQTT 3.1.1, a demo
default only; see :mod:`simulator.embedded_broker`). ``--broker URL`` uses a broker others may share; every client id
and topic carries this run's id, so two demos (or a demo and a real meter) never read each other's readings.

Every reading published must reach the agent, from our meters only; if not, the run fails loudly: an ERROR in the
terminal, a red box on top of the report, and exit code 1.

Run ``python -m simulator.demo --help`` (or ``make demo``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.models.manifest import MANIFEST_NAME, SHIPPED_ASSETS, load_manifest
from device.mqtt.settings import PROTOCOLS, BrokerSettings
from device.options import build_parser as build_options_parser
from device.options import option, option_of, parse_options
from device.wire import DEFAULT_PREFIX
from simulator.agent_process import AgentProcess, AgentRun
from simulator.brokers import BinaryMissing, MosquittoBroker
from simulator.embedded_broker import EmbeddedBroker
from simulator.predictions import read_prediction_rows
from simulator.replay import ReplayConfig, ReplayResult, replay
from simulator.report import ReportConfig, ReportFiles, write_report

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoConfig:
    """One end-to-end run."""

    data: Path = option_of(ReplayConfig, "data")
    assets: Path = option(
        SHIPPED_ASSETS,
        "firmware assets folder with manifest.json; converted first if missing",
        shown="firmware_assets of this repository",
    )
    out_dir: Path = option(
        REPO / "runs" / "demo",
        "where the report and the agent's files go",
        flag="--out",
        shown="runs/demo of this repository",
    )
    #: None: our own broker on a free port (mosquitto if installed, else the embedded amqtt broker).
    broker: str | None = option(
        None,
        "use this broker (mqtt://host:port), which others may share: every client id "
        "and topic carries the run id, so runs never mix",
        shown="the demo's own broker on a free port, mosquitto if installed, else an embedded amqtt broker",
    )
    mqtt_version: str = option(
        "5",
        "MQTT version with --broker or the demo's own mosquitto (the embedded amqtt broker always uses 3.1.1)",
        choices=sorted(PROTOCOLS),
    )
    #: Empty: every model in the manifest.
    models: tuple[str, ...] = option((), "model names", shown="every model in the manifest")
    start: str | None = option_of(ReplayConfig, "start")
    end: str | None = option_of(ReplayConfig, "end")
    #: The held-out part of the full file is years long: a month answers the question in minutes.
    days: float | None = option_of(ReplayConfig, "days", default=31.0)
    meters: int = option_of(ReplayConfig, "meters")
    agent_id: str = option("demo", "the agent's id, followed by the run id")
    #: Goes into every client id and topic prefix; None: a fresh random one per run.
    run_id: str | None = option(
        None,
        "label of this run in every client id and topic: <agent-id>-<run-id>, "
        f"{DEFAULT_PREFIX}-<run-id>/<meter>/reading",
        shown="random, 8 hex digits",
    )
    drain_timeout_s: float = option(
        300.0, "seconds the agent may take to catch up after the replay", flag="--drain-timeout"
    )
    margin: float = option_of(ReportConfig, "margin")
    progress: bool = option_of(ReplayConfig, "progress")


def ensure_assets(config: DemoConfig) -> None:
    """Train the small models and convert them if the assets are missing (once, on a clone without them)."""
    if (config.assets / MANIFEST_NAME).is_file():
        return
    run_dir = "runs/demo_training"  # not the demo's own out_dir: its report.md would be overwritten
    log.info("no %s in %s: running python -m train and python -m convert.quantize (once)", MANIFEST_NAME, config.assets)
    for command in (
        [
            "train",
            "--data",
            str(config.data),
            "--out",
            run_dir,
            "--models",
            "persistence",
            "trend_line",
            "linreg",
            "seed_lstm",
        ],
        ["convert.quantize", "--run-dir", run_dir, "--out", str(config.assets)],
    ):
        subprocess.run(
            [sys.executable, "-m", *command], check=True, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        )


@contextlib.contextmanager
def broker_for(config: DemoConfig) -> Iterator[tuple[BrokerSettings, str]]:
    """The broker to use and a word on which it is. Without ``config.broker``, one of our own on a free port, so no
    other demo or user shares it; it is stopped on exit."""
    if config.broker:
        yield BrokerSettings(config.broker, config.mqtt_version), f"shared ({config.broker})"
        return
    try:
        mosquitto = MosquittoBroker(config.out_dir / "broker").start()
    except BinaryMissing as missing:
        log.info("%s: the demo starts the embedded amqtt broker instead", missing)
        with EmbeddedBroker() as embedded:
            yield BrokerSettings(embedded.url, "3.1.1"), f"own embedded amqtt ({embedded.url}, MQTT 3.1.1)"
        return
    try:
        yield BrokerSettings(mosquitto.url, config.mqtt_version), f"own mosquitto ({mosquitto.url})"
    finally:
        mosquitto.stop()


@contextlib.contextmanager
def sole_writer(out_dir: Path) -> Iterator[None]:
    """Refuse a second demo writing to the same folder at the same time (the lock goes with the process)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ".demo.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another demo is writing to {out_dir}: wait for it, or give this one --out") from None
        yield


def stream_problems(result: ReplayResult, metrics: dict[str, Any]) -> list[str]:
    """What went wrong between the replay and the agent; empty when every reading published was acknowledged and
    reached the agent, and nothing else did."""
    problems = []
    if result.acknowledged != result.published:
        problems.append(
            f"the broker acknowledged {result.acknowledged:,} of the {result.published:,} readings published"
        )
    received = int(metrics.get("readings", {}).get("received", 0))
    if received != result.published:
        why = "someone else publishes on its topics" if received > result.published else "readings were lost"
        problems.append(f"the agent received {received:,} readings, but {result.published:,} were published ({why})")
    foreign = sorted(set(metrics.get("meters", {})) - set(result.meters))
    if foreign:
        problems.append(f"the agent heard from {len(foreign)} meter(s) the replay never sent: {', '.join(foreign[:5])}")
    return problems


@dataclass(frozen=True)
class DemoResult:
    """What one run produced: the report's files, the replay's counts and the agent's final metrics."""

    report: ReportFiles
    replay: ReplayResult
    metrics: dict[str, Any]
    predictions_file: Path
    #: Empty for a good run; else why its figures cannot be trusted (also on top of the report).
    problems: tuple[str, ...] = ()


def run_demo(config: DemoConfig) -> DemoResult:
    """Assets → broker → agent → replay → wait for the agent → stop it → check the counts → report."""
    with sole_writer(config.out_dir):
        return _run(config)


def _run(config: DemoConfig) -> DemoResult:
    ensure_assets(config)
    manifest = load_manifest(config.assets)
    models = config.models or tuple(manifest.models)
    run_id = config.run_id or secrets.token_hex(4)
    agent_id, topic_prefix = f"{config.agent_id}-{run_id}", f"{DEFAULT_PREFIX}-{run_id}"
    work_dir = config.out_dir / "agent"
    with broker_for(config) as (broker, broker_kind):
        log.info(
            "broker: %s; run id %s: agent %s, readings on %s/<meter>/reading",
            broker_kind,
            run_id,
            agent_id,
            topic_prefix,
        )
        agent = AgentProcess(AgentRun(broker, config.assets, models, work_dir, agent_id, topic_prefix))
        with agent:
            result = replay(
                ReplayConfig(
                    data=config.data,
                    broker=broker,
                    speed=0.0,
                    start=config.start,
                    end=config.end,
                    days=config.days,
                    meters=config.meters,
                    progress=config.progress,
                    topic_prefix=topic_prefix,
                    client_id=f"{agent_id}-replay",
                ),
                consumed=agent.received,
            )
            try:
                agent.wait_until_received(result.published, config.drain_timeout_s)
            except TimeoutError as late:
                log.error("%s", late)  # the check below says it again; the report is still written
        # The agent writes its final metrics at exit: only then is every pending prediction in them.
        metrics = agent.metrics()
    if metrics is None:
        raise RuntimeError(f"the agent left no metrics in {agent.run.metrics_file}")
    problems = stream_problems(result, metrics)
    run = {
        "data": config.data.name,
        "replayed": f"{result.first_ts} .. {result.last_ts}",
        "meters": len(result.meters),
        "readings published": result.published,
        "acknowledged": result.acknowledged,
        "broker": broker_kind,
        "run id": run_id,
        "models": len(models),
    }
    files = write_report(
        metrics,
        read_prediction_rows(agent.run.predictions_file),
        manifest,
        config.out_dir,
        ReportConfig(margin=config.margin),
        run,
        problems,
    )
    return DemoResult(files, result, metrics, agent.run.predictions_file, tuple(problems))


DESCRIPTION = """Run the whole loop on this machine: convert the models if needed, start a broker of its own (or use
--broker), start the device agent with every model, replay the held-out data at full speed, and write the report that
compares the models and recommends one per device class. Exits 1, with an ERROR and a red box on top of the report, if
the agent did not receive exactly the readings published."""


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(DemoConfig, "python -m simulator.demo", DESCRIPTION, log_level=None)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM (e.g. from `timeout`) unwinds like an exception, so the agent and the broker we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    result = run_demo(parse_options(DemoConfig, argv, build_parser()))
    print(f"report: {result.report.markdown}")
    for problem in result.problems:
        log.error("this run's figures cannot be trusted: %s", problem)
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
