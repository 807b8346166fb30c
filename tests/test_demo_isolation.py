"""Two demos on one machine cannot mix: started at the same moment, each on its own broker or both on one shared
broker, each agent receives exactly the readings its replay published and the report recommends what a run alone
recommends. A run whose agent heard anything else fails loudly: exit code, an ERROR line, a red box in the report.

Every demo is a real ``python -m simulator.demo`` process (with its agent process and, without --broker, its own
mosquitto), started from a folder outside the repository, on six hours of the held-out data and three models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.contract import MEASUREMENTS
from device.mqtt.client import make_client
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading
from simulator.brokers import MosquittoBroker, find_mosquitto

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MODELS = "linreg,persistence,mcu_lstm_int8"
START, END = "2007-05-04T00:00", "2007-05-04T06:00"
READINGS = 360


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stderr: str
    report: dict
    markdown: str


def start_demo(out: Path, *extra: str) -> subprocess.Popen:
    """``python -m simulator.demo`` from a folder that is not the repository, as a second clone would run it."""
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.demo",
            "--models",
            MODELS,
            "--start",
            START,
            "--end",
            END,
            "--out",
            str(out),
            "--drain-timeout",
            "120",
            *extra,
        ],
        cwd=out,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, out: Path) -> DemoRun:
    _, stderr = process.communicate(timeout=300)
    report = out / "report.json"
    return DemoRun(
        process.returncode,
        stderr,
        json.loads(report.read_text()) if report.is_file() else {},
        (out / "report.md").read_text() if report.is_file() else "",
    )


def run_together(*demos: tuple[Path, tuple[str, ...]]) -> list[DemoRun]:
    processes = [start_demo(out, *extra) for out, extra in demos]  # all started before any is waited for
    return [finish(p, out) for p, (out, _) in zip(processes, demos)]


def picks(run: DemoRun) -> dict[str, str]:
    return {r["device"]: r["model"] for r in run.report["recommendations"]}


def received(run: DemoRun) -> int:
    return run.report["readings"]["received"]


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> DemoRun:
    return run_together((tmp_path_factory.mktemp("alone"), ()))[0]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> list[DemoRun]:
    """Two demos started at the same moment, each with its own broker (the default)."""
    return run_together((tmp_path_factory.mktemp("first"), ()), (tmp_path_factory.mktemp("second"), ()))


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory) -> list[DemoRun]:
    """Two demos started at the same moment on one shared mosquitto (--broker)."""
    broker = MosquittoBroker(tmp_path_factory.mktemp("shared_broker")).start()
    try:
        yield run_together(*[(tmp_path_factory.mktemp(name), ("--broker", broker.url)) for name in ("a", "b")])
    finally:
        broker.stop()


def test_a_demo_alone_gets_every_reading_it_published(alone):
    assert (alone.returncode, alone.report["problems"]) == (0, [])
    assert alone.report["run"]["readings published"] == received(alone) == READINGS


def test_a_demo_without_broker_starts_its_own_mosquitto_on_a_free_port(pair):
    find_mosquitto()  # without the binary the demo falls back to the embedded broker: skip
    kinds = [run.report["run"]["broker"] for run in pair]
    assert all(kind.startswith("own mosquitto (mqtt://127.0.0.1:") for kind in kinds)
    assert kinds[0] != kinds[1] and ":1883)" not in "".join(kinds)


def test_two_demos_at_once_each_receive_exactly_what_they_published(pair):
    for run in pair:
        assert (run.returncode, run.report["problems"]) == (0, [])
        assert run.report["run"]["readings published"] == received(run) == READINGS


def test_two_demos_at_once_recommend_what_a_demo_alone_recommends(pair, alone):
    assert picks(pair[0]) == picks(pair[1]) == picks(alone)


def test_two_demos_on_one_shared_broker_each_receive_exactly_what_they_published(shared_pair):
    for run in shared_pair:
        assert (run.returncode, run.report["problems"]) == (0, [])
        assert run.report["run"]["readings published"] == received(run) == READINGS


def test_two_demos_on_one_shared_broker_carry_different_run_ids(shared_pair, alone):
    assert shared_pair[0].report["run"]["run id"] != shared_pair[1].report["run"]["run id"]
    assert picks(shared_pair[0]) == picks(shared_pair[1]) == picks(alone)


def test_progress_bars_stay_out_of_a_pipe(alone):
    assert "\r" not in alone.stderr


def test_a_reading_from_someone_else_fails_the_run_loudly(mosquitto, tmp_path):
    """A retained reading waits on the run's own topic, as if another publisher shared it: the agent receives one
    reading more than the replay published, from a meter the replay never sent (refused as ``retained``, so counted
    and logged with its meter, never taken as a minute)."""
    settings = BrokerSettings(mosquitto.url)
    intruder = make_client(settings, "intruder")
    intruder.connect(settings.host, settings.port)
    intruder.loop_start()
    reading = encode_reading("2007-05-04T00:00:00", dict.fromkeys(MEASUREMENTS, 1.0))
    intruder.publish("meter-intruded/stranger1/reading", reading, qos=1, retain=True).wait_for_publish(10)
    intruder.disconnect()
    intruder.loop_stop()

    run = run_together((tmp_path / "out", ("--broker", mosquitto.url, "--run-id", "intruded")))[0]

    assert run.returncode == 1
    assert "ERROR" in run.stderr and "someone else publishes on its topics" in run.stderr
    assert run.markdown.splitlines()[2:4] == ["> [!CAUTION]", "> **ERROR: this run's figures cannot be trusted.**"]
    assert any("someone else publishes on its topics" in p for p in run.report["problems"])
