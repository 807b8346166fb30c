"""The agent runs the shipped next-hour series model like any model, against a real Mosquitto: it waits for a week of
history, then publishes one message per forecast on ``devices/<agent>/meters/<meter>/series``, scores every step
when its actuals have arrived (the same per-step scores as the offline evaluation of the same minutes), and shows the
series in Home Assistant (state = next step, ``forecast`` attribute = the series)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import jinja2
import numpy as np
import pytest

from convert.series import SERIES_ASSETS
from device.contract import SERIES_SEQ_LEN, series_targets
from device.forecasting.forecaster import model_rows
from device.mqtt.settings import BrokerSettings
from device.series_scoring import SeriesScores
from simulator.brokers import MosquittoBroker
from tests.collector import Collector
from tests.device_assets import Series
from tests.test_agent_mqtt import publisher, send, start_agent, wait_for
from train.series import MODEL_NAME, cut_series_windows

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SERIES_TOPIC = "devices/pi01/meters/house1/series"
STATE_TOPIC = "devices/pi01/meters/house1/state"


@dataclass
class Replay:
    """What one agent did with the 14-day slice (a week of history, then a week of forecasts) on meter house1."""

    series: Series
    snapshot: dict
    messages: list[dict]  # the series topic, in order
    states: list[dict]  # the meter's Home Assistant state topic
    configs: dict[str, dict]  # retained discovery configs by topic
    model: object


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> Replay:
    tmp = tmp_path_factory.mktemp("series")
    # the replay is a fortnight in seconds: let the broker queue the collector's burst rather than drop from it
    broker = MosquittoBroker(tmp / "broker", extra_config="max_queued_messages 100000\n").start()
    try:
        settings = BrokerSettings(broker.url)
        collector = Collector(settings, [SERIES_TOPIC, STATE_TOPIC, "homeassistant/#"])
        agent = start_agent(broker, SERIES_ASSETS, tmp, models=(MODEL_NAME,), metrics_interval_s=0.5)
        series = Series.bundled(rows=10**6)
        sent = send(publisher(broker.port), series, meter="house1")
        deadline = time.monotonic() + 240.0
        while agent.metrics.readings["accepted"] < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        snapshot = agent.stop()
        expected = sent - SERIES_SEQ_LEN + 1
        wait_for(lambda: len(collector.payloads(SERIES_TOPIC)) == expected, "every series message")
        by_topic = collector.json_by_topic()
        configs = {t: json.loads(p) for t, p, retained in collector.messages if t.startswith("homeassistant/") and p}
        return Replay(
            series,
            snapshot,
            by_topic[SERIES_TOPIC],
            by_topic.get(STATE_TOPIC, []),
            configs,
            agent.forecaster.models[0],
        )
    finally:
        broker.stop()


def offline_scores(model, series: Series) -> SeriesScores:
    """The offline evaluation of the same minutes: every window of the slice with a week behind it and its whole
    hour ahead inside the slice, cut by train.series from the same feature rows, scored against the file's kW."""
    spec = model.entry.window
    filled = series.filled()
    rows = model_rows(model, series.minutes, filled)
    ends = np.arange(SERIES_SEQ_LEN - 1, len(series) - spec.horizon)
    predicted = model.scaling.inverse_target(
        model.predictor.predict_inputs(cut_series_windows(rows, ends, spec).inputs)
    )
    scores = SeriesScores(model.entry.quantiles, spec.series.steps)
    scores.add(predicted, series_targets(filled[:, 0], ends, spec.series))
    return scores


def test_a_series_model_forecasts_only_after_a_week_of_history_and_says_how_many_readings_waited(replay):
    online = replay.snapshot["models"][MODEL_NAME]
    assert online["waiting_for_history"] == SERIES_SEQ_LEN - 1
    assert online["predictions"] == len(replay.messages) == len(replay.series) - SERIES_SEQ_LEN + 1
    first = replay.series.minutes[SERIES_SEQ_LEN - 1]
    assert replay.messages[0]["made_ts"] == str(np.datetime64(int(first), "m").astype("datetime64[s]")) + "+00:00"


def test_online_per_step_scores_equal_the_offline_evaluation_of_the_same_minutes(replay):
    offline = offline_scores(replay.model, replay.series).per_step()
    online = replay.snapshot["models"][MODEL_NAME]["series"]
    assert online["n"] == offline["n"] == len(replay.series) - SERIES_SEQ_LEN + 1 - 60  # the last hour never arrived
    for key in ("mse", "mae", "pinball", "coverage"):
        assert len(online[key]) == 12
        np.testing.assert_allclose(online[key], offline[key], rtol=1e-12)
    assert replay.snapshot["meters"]["house1"][MODEL_NAME]["series"] == online  # one meter: its scores are the total


def test_a_series_message_holds_twelve_five_minute_steps_with_their_interval(replay):
    message = replay.messages[0]
    assert set(message) == {"model", "made_ts", "steps"} and message["model"] == MODEL_NAME
    steps = message["steps"]
    assert len(steps) == 12 and all(s["p10"] <= s["kw"] <= s["p90"] for s in steps)
    made = np.datetime64(message["made_ts"][:-6])
    assert [np.datetime64(s["start"][:-6]) - made for s in steps] == [np.timedelta64(1 + 5 * i, "m") for i in range(12)]
    assert all(a["end"] == b["start"] for a, b in zip(steps, steps[1:]))
    assert steps[-1]["end"].endswith("+00:00")


def test_the_published_series_is_what_the_model_forecast(replay):
    """The message's numbers (kW rounded to 0.1 W) are the offline forecast of the same window."""
    model, series = replay.model, replay.series
    spec = model.entry.window
    rows = model_rows(model, series.minutes, series.filled())
    end = np.array([SERIES_SEQ_LEN - 1 + 1000])
    kw = model.scaling.inverse_target(model.predictor.predict_inputs(cut_series_windows(rows, end, spec).inputs))[0]
    steps = replay.messages[1000]["steps"]
    np.testing.assert_allclose([s["kw"] for s in steps], kw[:, 1], atol=5e-5)
    np.testing.assert_allclose([s["p10"] for s in steps], kw[:, 0], atol=5e-5)
    np.testing.assert_allclose([s["p90"] for s in steps], kw[:, 2], atol=5e-5)


def _render(template: str, payload: dict) -> str:
    """A discovery template rendered as Home Assistant does (Jinja2, ``value_json`` the decoded payload)."""
    environment = jinja2.Environment()
    environment.filters["tojson"] = lambda v: json.dumps(v)
    return environment.from_string(template).render(value_json=payload)


def test_home_assistant_gets_a_series_sensor_whose_state_is_the_next_step_and_whose_attribute_is_the_series(replay):
    (config,) = [c for c in replay.configs.values() if c["unique_id"].endswith(f"house1_{MODEL_NAME}_series")]
    assert config["enabled_by_default"] is True  # the only series model is the recommended one
    assert config["state_topic"] == config["json_attributes_topic"] == STATE_TOPIC
    state = replay.states[-1]
    assert float(_render(config["value_template"], state)) == state[MODEL_NAME]["forecast"][0]["kw"]
    attributes = json.loads(_render(config["json_attributes_template"], state))
    forecast = attributes["forecast"]
    assert len(forecast) == 12 and set(forecast[0]) == {"datetime", "kw", "p10", "p90"}
    published = next(m for m in replay.messages if m["made_ts"] == state[MODEL_NAME]["made_ts"])
    assert [f["datetime"] for f in forecast] == [s["start"] for s in published["steps"]]
    assert not any(c["unique_id"].endswith(f"{MODEL_NAME}_rmse") for c in replay.configs.values())


#: What Home Assistant adds to an MQTT sensor's stored attributes besides the JSON attributes (its recorder keeps
#: them together, one ``state_attributes`` row per distinct set).
HA_OWN_ATTRIBUTES = {
    "state_class": "measurement",
    "unit_of_measurement": "kW",
    "device_class": "power",
    "icon": "mdi:chart-bell-curve-cumulative",
    "friendly_name": f"house1 next hour ({MODEL_NAME})",
}
#: A forecast a minute: each one a state change whose attributes the recorder stores.
CHANGES_PER_DAY = 24 * 60


def test_the_recorder_cost_of_the_series_attribute_is_about_a_kilobyte_per_change(replay):
    """Measured on every state the agent published in the replay (docs/home-assistant.md quotes these figures)."""
    sizes = np.array(
        [len(json.dumps({**s[MODEL_NAME], **HA_OWN_ATTRIBUTES}, separators=(",", ":"))) for s in replay.states]
    )
    print(
        f"\nseries attribute: {len(sizes)} states, median {np.median(sizes):.0f} B, max {sizes.max()} B; "
        f"{np.median(sizes) * CHANGES_PER_DAY / 1e6:.2f} MB a day, "
        f"{np.median(sizes) * CHANGES_PER_DAY * 10 / 1e6:.1f} MB over the recorder's default 10 days"
    )
    assert len(sizes) >= 10 and 1000 < sizes.max() < 1300
