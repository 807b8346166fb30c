"""``--record DIR``: what the agent writes is what the trainer reads back, per meter and UTC day, with the household's
clock, corrections, retention by data time, torn lines repaired, bounded descriptors and write errors that never stop
the forecasts; then through a real Mosquitto and a real agent, in-process and as a SIGKILLed process."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from device.agent import Agent
from device.clock import HouseholdTime
from device.config import AgentConfig
from device.contract import MEASUREMENTS
from device.forecasting.stream import MeterStream, Outcome, StreamUpdate
from device.io.recorder import Recorder
from device.mqtt.settings import BrokerSettings
from device.recording_format import HEADER, METER_FILE, day_file, format_line, meter_folder
from simulator.agent_process import AgentProcess, AgentRun
from simulator.publisher import AckingPublisher
from simulator.replay import ReplayConfig, replay
from tests.device_assets import BUNDLED, Series, build_assets
from train.data import Measurements, load_measurements
from train.recording import read_recording

log = logging.getLogger(__name__)
WAIT_S = 30.0
MODELS = ("persistence",)


def minute_of(text: str) -> int:
    return int(np.datetime64(text, "m").astype(np.int64))


def reading(i: int) -> np.ndarray:
    """A plausible reading with the UCI file's 3 decimals."""
    return np.round(np.array([1.0 + i / 100, 0.1, 235.0 + i / 10, 4.2, 0.0, 1.0, 17.0]), 3)


def accepted(minutes: list[int], value: float = 1.5) -> StreamUpdate:
    """Real readings for consecutive ``minutes`` (for the tests that need many minutes, not the stream's rules)."""
    rows = np.tile(reading(0), (len(minutes), 1))
    rows[:, 0] = value
    return StreamUpdate(Outcome.ACCEPTED, np.array(minutes, np.int64), rows, np.zeros(len(minutes), bool))


def day_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.csv"))


def test_what_is_recorded_reads_back_identically_with_the_household_clock_across_a_dst_change(tmp_path):
    """Europe/Paris leaves summer time at 01:00 UTC on 2026-10-25, an hour after UTC midnight: the readings span both,
    with two absent minutes of which the first comes late (correcting both: the second was filled from it), one
    left absent, a null power and a null sub-meter."""
    start = minute_of("2026-10-24T23:50")
    stream = MeterStream(1440, 15, needed=("gap",))
    recorder = Recorder(tmp_path, 90, HouseholdTime("Europe/Paris"))
    sent: dict[int, np.ndarray] = {}
    late, absent, null_gap, null_sm1 = start + 20, start + 40, start + 50, start + 60
    for i in range(90):
        minute = start + i
        if minute in (late, late + 1, absent):
            continue
        sent[minute] = reading(i)
        if minute == null_gap:
            sent[minute][0] = np.nan
        if minute == null_sm1:
            sent[minute][MEASUREMENTS.index("sm1")] = np.nan
        recorder.record("house/main", stream.accept(minute, sent[minute]), sent[minute])
        if i % 7 == 0:
            recorder.flush()
    sent[late] = reading(20)
    refilled = stream.accept(late, sent[late])
    assert refilled.outcome is Outcome.REFILLED
    recorder.record("house/main", refilled, sent[late])
    recorder.close()

    recorded = read_recording(tmp_path)
    folder = tmp_path / meter_folder("house/main")
    assert recorded.meter == "house/main" and folder.name != "house/main"
    assert json.loads((folder / METER_FILE).read_text()) == {"meter": "house/main", "timezone": "Europe/Paris"}
    assert day_files(folder) == ["2026-10-24.csv", "2026-10-25.csv"]  # one file per meter and UTC day
    assert recorded.minutes.tolist() == list(range(start, start + 90))
    paris = ZoneInfo("Europe/Paris")
    wall = [
        int(np.datetime64(datetime.fromtimestamp(m * 60, paris).replace(tzinfo=None), "m").astype(np.int64))
        for m in recorded.minutes.tolist()
    ]
    assert recorded.wall_minutes.tolist() == wall
    assert set((recorded.wall_minutes - recorded.minutes).tolist()) == {120, 60}
    filled = [m in (late + 1, absent, null_gap) for m in range(start, start + 90)]
    assert recorded.filled.tolist() == filled
    expected = np.array(
        [sent[m] if not f else np.full(len(MEASUREMENTS), np.nan) for m, f in zip(range(start, start + 90), filled)]
    )
    np.testing.assert_array_equal(recorded.raw, expected)  # the null sub-meter reads back empty, not filled
    assert recorded.corrections == len(refilled.minutes) == 2  # the late minute and the one filled from it after
    assert recorder.counters["corrections"] == 2
    assert recorder.counters["minutes"] == 90 + 2 and recorder.counters["errors"] == 0
    text = (folder / "2026-10-25.csv").read_text()
    assert "2026-10-25 00:59:00,2026-10-25T02:59:00+02:00," in text
    assert "2026-10-25 01:00:00,2026-10-25T02:00:00+01:00," in text
    assert text.startswith(HEADER) and text.count(HEADER) == 1


def test_retention_keeps_the_newest_days_by_data_time_not_by_today(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="device.io.recorder")
    day = minute_of("2008-01-01T12:00")
    recorder = Recorder(tmp_path, 3, HouseholdTime("UTC"))
    for d in range(5):
        recorder.record("m1", accepted([day + d * 1440]))
        recorder.flush()
    assert day_files(tmp_path / "m1") == ["2008-01-03.csv", "2008-01-04.csv", "2008-01-05.csv"]
    assert recorder.counters["files_deleted"] == 2 and "deleted 1 day files (2008-01-02.csv" in caplog.text
    recorder.record("m1", accepted([day + 1440]))  # a minute of a day no longer kept
    recorder.close()
    assert recorder.counters["expired"] == 1 and "2008-01-02.csv" not in day_files(tmp_path / "m1")

    restarted = Recorder(tmp_path, 2, HouseholdTime("UTC"))  # 2008 is 18 years ago: only the data's time counts
    assert day_files(tmp_path / "m1") == ["2008-01-04.csv", "2008-01-05.csv"]
    assert restarted.counters["files_deleted"] == 1


def test_a_torn_last_line_is_truncated_on_reopen_and_counted(tmp_path, caplog):
    start = minute_of("2008-01-01T00:00")
    recorder = Recorder(tmp_path, 90, HouseholdTime("UTC"))
    recorder.record("m1", accepted([start, start + 1, start + 2]))
    recorder.close()
    path = day_file(tmp_path, "m1", "2008-01-01")
    with path.open("a") as f:  # what a power cut leaves of an unsynced write
        f.write(format_line(start + 3, start + 3, reading(3), False)[:30])
    assert read_recording(path).bad_lines == 1

    recorder = Recorder(tmp_path, 90, HouseholdTime("UTC"))
    recorder.record("m1", accepted([start + 3, start + 4], value=2.5))
    recorder.close()
    assert recorder.counters["torn_lines_truncated"] == 1
    assert (
        "truncated a last line cut off by a crash or power cut (30 bytes)" in caplog.text and str(path) in caplog.text
    )
    recorded = read_recording(path)
    assert (recorded.bad_lines, recorded.minutes.tolist()) == (0, list(range(start, start + 5)))
    assert recorded.raw[:, 0].tolist() == [1.5, 1.5, 1.5, 2.5, 2.5]


def descriptors_into(folder: Path) -> list[str]:
    """This process's open descriptors on files under ``folder`` (other tests' sockets and files may open and close
    meanwhile, so counting every descriptor of the process would not measure the recorder)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listed
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


def test_many_meters_keep_a_bounded_number_of_files_open(tmp_path):
    start = minute_of("2008-01-01T00:00")
    recorder = Recorder(tmp_path, 90, HouseholdTime("UTC"), max_open=32)
    for minute in (start, start + 1):  # the second round reopens files closed to make room
        for k in range(300):
            recorder.record(f"house{k}", accepted([minute], value=k))
        recorder.flush()
        assert 0 < len(descriptors_into(tmp_path)) <= 32
    recorder.close()
    assert descriptors_into(tmp_path) == []
    assert recorder.counters["minutes"] == 600
    for k in (0, 150, 299):
        recorded = read_recording(tmp_path / f"house{k}")
        assert recorded.minutes.tolist() == [start, start + 1] and recorded.raw[:, 0].tolist() == [k, k]


def file_where_the_meter_folder_should_be(root: Path) -> Path:
    root.mkdir()
    (root / "blocked").write_text("not a folder")
    return root / "blocked"


def full_disk(root: Path) -> Path:
    """/dev/full refuses every write with ENOSPC, as a full disk does."""
    (root / "blocked").mkdir(parents=True)
    path = day_file(root, "blocked", "2008-01-01")
    path.symlink_to("/dev/full")
    return path


@pytest.mark.parametrize("block", [file_where_the_meter_folder_should_be, full_disk])
def test_a_failing_write_is_counted_and_logged_with_its_meter_and_file_never_raised(tmp_path, caplog, block):
    start = minute_of("2008-01-01T00:00")
    blocked = block(tmp_path / "rec")
    recorder = Recorder(tmp_path / "rec", 90, HouseholdTime("UTC"))
    for minute in (start, start + 1):
        recorder.record("blocked", accepted([minute]))
        recorder.record("fine", accepted([minute]))
        recorder.flush()
    recorder.close()
    assert recorder.counters["errors"] == 2 and recorder.counters["minutes"] == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # rate-limited: the second failure is counted, not logged again within 10 s
    assert "meter blocked: could not record 1 minutes in" in errors[0].getMessage()
    assert str(blocked) in errors[0].getMessage()
    assert read_recording(tmp_path / "rec" / "fine").minutes.tolist() == [start, start + 1]


def test_written_files_are_fsynced_once_due_and_all_on_close(tmp_path, monkeypatch):
    synced: list[str] = []  # the day files fsynced (meter.json is written durably once, apart)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".csv"):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    start = minute_of("2008-01-01T00:00")
    patient = Recorder(tmp_path / "a", 90, HouseholdTime("UTC"))  # syncs 30 s after a file's first unsynced line
    for i in range(5):
        patient.record("m1", accepted([start + i]))
        patient.flush()
    assert synced == []
    patient.close()
    assert len(synced) == 1
    eager = Recorder(tmp_path / "b", 90, HouseholdTime("UTC"), sync_interval_s=0.0)
    for i in range(5):
        eager.record("m1", accepted([start + i]))
        eager.flush()
    assert len(synced) == 1 + 5


# --- through a real Mosquitto ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def replayed(rows: slice) -> Measurements:
    return load_measurements(BUNDLED).rows(rows)


def assert_same_rows(recording: Measurements, sent: Measurements) -> None:
    for name in MEASUREMENTS:
        np.testing.assert_array_equal(recording.values[name], sent.values[name], err_msg=name)
    assert recording.missing.tolist() == sent.missing.tolist()


def replay_config(broker, **options) -> ReplayConfig:
    return ReplayConfig(
        broker=BrokerSettings(broker.url), client_id="replay", progress=False, ack_timeout_s=WAIT_S, **options
    )


@pytest.mark.broker
def test_an_agent_with_record_writes_exactly_the_replayed_rows_on_the_household_clock(mosquitto, assets, tmp_path):
    """Nearly 7 hours of the slice around a UTC midnight, into its long run of null readings (recorded as filled),
    replayed with the data's own clock read as Europe/Paris time."""
    sent = replayed(slice(8500, 8900))
    config = AgentConfig(
        broker=mosquitto.url,
        assets=assets,
        models=MODELS,
        agent_id="pi01",
        timezone="Europe/Paris",
        record=tmp_path / "rec",
        ha_discovery=False,
        tracemalloc_readings=0,
    )
    agent = Agent(config).start()
    try:
        result = replay(replay_config(mosquitto), sent, consumed=lambda: agent.metrics.readings["received"])
        deadline = time.monotonic() + WAIT_S
        while agent.metrics.readings["received"] < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        snapshot = agent.stop()
    assert result.acknowledged == len(sent)
    recording = load_measurements(tmp_path / "rec")
    assert recording.wall_minutes.tolist() == sent.minutes.tolist()  # the household's clock is the data's own
    assert (recording.minutes == sent.minutes - 120).all()  # CEST
    assert_same_rows(recording, sent)
    assert day_files(tmp_path / "rec" / "house1") == ["2007-04-27.csv", "2007-04-28.csv"]
    assert snapshot["recording"]["minutes"] == len(sent) and snapshot["recording"]["errors"] == 0
    assert snapshot["readings"]["filled_minutes"] == 0 and sent.missing.sum() > 200


def settle(agent: AgentProcess, broker) -> dict:
    """Stop the agent once everything published so far arrived (its session is one queue delivered in order); its
    final metrics."""
    marker = AckingPublisher(BrokerSettings(broker.url), "end-marker", max_inflight=1, max_queued=0)
    try:
        agent.wait_for_end_marker(marker, WAIT_S)
    finally:
        marker.close()
    assert agent.stop() == 0
    return agent.metrics()


@pytest.mark.broker
def test_a_recording_cut_off_by_a_sigkill_reads_back_losing_at_most_that_line(mosquitto, assets, tmp_path):
    """The agent process is SIGKILLed mid-replay. Its one write per file and batch cannot be cut mid-line by a process
    kill, so the torn last line a power cut leaves is appended by hand to the newest day file. Read back, only that
    line is lost; restarted on the same folder and fed on, the agent truncates it and the recording carries on."""
    run = AgentRun(
        BrokerSettings(mosquitto.url),
        assets,
        MODELS,
        tmp_path / "agent",
        agent_id="recorder",
        metrics_interval_s=0.2,
        session_expiry_s=3600,
        write_predictions=False,
        extra_args=("--record", str(tmp_path / "rec")),
    )
    agent = AgentProcess(run).start()
    try:
        first = replayed(slice(0, 900))
        replaying = threading.Thread(target=replay, args=(replay_config(mosquitto, speed=12_000), first))
        replaying.start()  # 200 readings a second: the broker keeps what the killed agent did not take
        agent.wait_until_received(300, WAIT_S)
        agent.process.send_signal(signal.SIGKILL)
        agent.process.wait()
        replaying.join(WAIT_S)
        folder = tmp_path / "rec" / "house1"
        newest = folder / day_files(folder)[-1]
        before = read_recording(folder)
        assert before.bad_lines == 0 and 300 <= len(before.minutes) < 900
        with newest.open("a") as f:  # the torn write of a power cut
            f.write(format_line(int(before.minutes[-1]) + 1, int(before.minutes[-1]) + 1, reading(0), False)[:33])

        cut = read_recording(folder)
        assert cut.bad_lines == 1 and cut.minutes.tolist() == before.minutes.tolist()
        assert cut.minutes.tolist() == first.minutes[: len(cut.minutes)].tolist()  # a gap-free prefix

        agent.start()
        # Paced: Mosquitto queues at most 1000 messages for a client by default, the backlog from the kill included.
        replay(replay_config(mosquitto, max_lead=300), replayed(slice(900, 1500)), consumed=agent.received)
        metrics = settle(agent, mosquitto)
    finally:
        agent.stop()
    assert metrics["recording"]["torn_lines_truncated"] == 1 and metrics["recording"]["errors"] == 0
    after = read_recording(folder)
    log.info(
        "SIGKILL with %d of 900 minutes recorded; after the restart %d minutes, %d lines written again (resent "
        "readings the killed agent had not acknowledged), %d torn line truncated",
        len(before.minutes),
        len(after.minutes),
        after.corrections,
        metrics["recording"]["torn_lines_truncated"],
    )
    assert after.bad_lines == 0
    assert_same_rows(load_measurements(folder), replayed(slice(0, 1500)))
    assert day_files(folder) == ["2007-04-22.csv", "2007-04-23.csv"]
