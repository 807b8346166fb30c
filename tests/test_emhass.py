"""Handing a series to EMHASS: ``python -m device.emhass --meter house1`` prints ``{"load_power_forecast": [W, ...]}``,
each value the mean of the series' 5-minute medians inside one of EMHASS's 30-minute steps."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from device.contract import SeriesSpec
from device.emhass import load_power_forecast, main
from device.forecasting.series import SeriesForecast, series_message
from tests.test_agent_mqtt import publisher

#: a next-hour forecast made at 2025-02-19 21:20 UTC: step s has the median 0.1 * (s + 1) kW
KW = np.stack([np.arange(1, 13) * 0.1 - 0.05, np.arange(1, 13) * 0.1, np.arange(1, 13) * 0.1 + 0.05], axis=1)
MESSAGE = series_message(
    SeriesForecast("house1", "series_next_hour", 29_000_000, SeriesSpec(5, 12), (0.1, 0.5, 0.9), KW, 1, 1)
)


def test_each_thirty_minute_value_is_the_mean_of_six_five_minute_medians_in_watts():
    assert load_power_forecast(MESSAGE, 30) == [350.0, 950.0]  # (0.1+...+0.6)/6 kW, (0.7+...+1.2)/6 kW
    assert load_power_forecast(MESSAGE, 5) == [round(100.0 * (s + 1), 1) for s in range(12)]
    assert load_power_forecast(MESSAGE, 60) == [650.0]


def test_a_step_that_the_series_steps_do_not_tile_or_that_the_series_does_not_reach_is_refused():
    with pytest.raises(ValueError, match="not a whole number"):
        load_power_forecast(MESSAGE, 7)
    with pytest.raises(ValueError, match="less than one"):
        load_power_forecast(MESSAGE, 90)
    gapped = {**MESSAGE, "steps": MESSAGE["steps"][:3] + MESSAGE["steps"][4:]}
    with pytest.raises(ValueError, match="not consecutive"):
        load_power_forecast(gapped, 30)


def test_the_command_prints_the_runtime_parameters_from_a_saved_series(tmp_path, capsys):
    saved = tmp_path / "series.json"
    saved.write_text(json.dumps(MESSAGE))
    assert main(["--meter", "house1", "--series-file", str(saved)]) == 0
    assert json.loads(capsys.readouterr().out) == {"load_power_forecast": [350.0, 950.0]}


def test_the_command_takes_the_next_series_the_agent_publishes_for_the_meter(mosquitto, capsys):
    client = publisher(mosquitto.port)
    done = threading.Event()

    def agent_publishing() -> None:  # series are not retained: keep publishing as the agent does, once a minute
        while not done.is_set():
            client.publish("devices/pi01/meters/other/series", json.dumps({**MESSAGE, "steps": []}), qos=1)
            client.publish("devices/pi01/meters/house1/series", json.dumps(MESSAGE), qos=1)
            time.sleep(0.1)

    thread = threading.Thread(target=agent_publishing, daemon=True)
    thread.start()
    try:
        code = main(["--meter", "house1", "--broker", mosquitto.url, "--timeout-s", "10"])
    finally:
        done.set()
        thread.join()
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"load_power_forecast": [350.0, 950.0]}


def test_without_a_series_within_the_timeout_the_command_fails_saying_why(mosquitto, caplog):
    assert main(["--meter", "house1", "--broker", mosquitto.url, "--timeout-s", "0.5"]) == 1
    assert "no series on devices/pi01/meters/house1/series" in caplog.text
