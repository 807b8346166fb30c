"""Hand a meter's newest series forecast to EMHASS: print the JSON its runtime parameters take,
``{"load_power_forecast": [W, ...]}``, at its optimisation step (default 30 minutes).

    python -m device.emhass --meter house1 --model series_next_day [--broker mqtt://host:1883] [--agent-id pi01]
    python -m device.emhass --meter house1 --series-file series.json

EMHASS reads ``load_power_forecast`` from the runtime parameters of ``dayahead-optim`` and ``naive-mpc-optim``
(``curl -X POST -d @- http://emhass:5000/action/naive-mpc-optim``) as a list of values in W, one per
``optimization_time_step``. Each EMHASS step is the mean of the whole series steps inside it (a trailing part
shorter than an EMHASS step is left out): the day-ahead series ``series_next_day`` (48 x 30 minutes) gives EMHASS's
whole day at its default 30-minute step, 48 values; the next hour (12 x 5 minutes) gives two.

The series comes from the agent's topic ``<device-prefix>/<agent-id>/meters/<meter>/series`` (the next forecast
that arrives, of ``--model`` where given: they are not retained, so at most a minute at a meter's pace) or from a
file holding one such message.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from device.config import AgentConfig
from device.mqtt.client import make_client
from device.mqtt.settings import BrokerSettings
from device.options import build_parser, option, option_of, parse_options

log = logging.getLogger("wattcast.emhass")


@dataclass(frozen=True)
class EmhassConfig:
    meter: str = option(help="the meter whose series is handed over (its id in the agent's topics)")
    agent_id: str = option_of(AgentConfig, "agent_id")
    device_prefix: str = option_of(AgentConfig, "device_prefix")
    series_file: Path | None = option(
        None, "read the series message (the JSON the agent publishes) from this file instead of the broker", exists=True
    )
    model: str = option("", "hand over only this model's series (e.g. series_next_day); empty: the first to arrive")
    step_minutes: int = option(30, "EMHASS's optimization_time_step in minutes; each value is the mean over one")
    timeout_s: float = option(120.0, "how long to wait for the agent's next series message")
    broker: BrokerSettings = field(default_factory=BrokerSettings)

    def __post_init__(self) -> None:
        if self.step_minutes < 1 or self.timeout_s <= 0:
            raise ValueError("step_minutes must be >= 1 and timeout_s > 0")

    @property
    def topic(self) -> str:
        return f"{self.device_prefix}/{self.agent_id}/meters/{self.meter}/series"


def _minutes(start: str, end: str) -> int:
    return int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() // 60)


def load_power_forecast(message: dict[str, Any], step_minutes: int = 30) -> list[float]:
    """EMHASS's ``load_power_forecast`` (W, one value per ``step_minutes``) from one series message: the mean of the
    median (``kw``) of the whole series steps inside each EMHASS step. Raises ValueError for steps that do not tile
    an EMHASS step or are not consecutive."""
    steps = message["steps"]
    if not steps:
        raise ValueError("the series has no steps")
    width = _minutes(steps[0]["start"], steps[0]["end"])
    if any(_minutes(s["start"], s["end"]) != width for s in steps) or any(
        a["end"] != b["start"] for a, b in zip(steps, steps[1:])
    ):
        raise ValueError("the series' steps are not consecutive steps of one length")
    if step_minutes % width:
        raise ValueError(f"an EMHASS step of {step_minutes} min is not a whole number of {width}-min series steps")
    per = step_minutes // width
    whole = len(steps) // per
    if whole == 0:
        raise ValueError(f"the series spans {len(steps) * width} min, less than one {step_minutes}-min EMHASS step")
    kw = [float(s["kw"]) for s in steps]
    return [round(1000 * sum(kw[i * per : (i + 1) * per]) / per, 1) for i in range(whole)]


def runtime_parameters(message: dict[str, Any], step_minutes: int = 30) -> dict[str, Any]:
    """The JSON body to post to EMHASS's ``/action/naive-mpc-optim`` (or ``dayahead-optim``)."""
    return {"load_power_forecast": load_power_forecast(message, step_minutes)}


def next_series(config: EmhassConfig) -> dict[str, Any]:
    """The next series message the agent publishes for the meter (raises TimeoutError after ``timeout_s``)."""
    arrived: list[bytes] = []
    done = threading.Event()
    client = make_client(config.broker, f"wattcast-emhass-{config.meter}")

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        if message.payload and not arrived and of_model(message.payload, config.model):
            arrived.append(bytes(message.payload))
            done.set()

    client.on_connect = lambda c, *_: c.subscribe(config.topic, qos=1)
    client.on_message = on_message
    client.connect(config.broker.host, config.broker.port)
    client.loop_start()
    try:
        log.info("waiting up to %.0f s for a series on %s", config.timeout_s, config.topic)
        if not done.wait(config.timeout_s):
            raise TimeoutError(f"no series on {config.topic} within {config.timeout_s} s: is the agent running it?")
    finally:
        client.disconnect()
        client.loop_stop()
    parsed: dict[str, Any] = json.loads(arrived[0])
    return parsed


def of_model(payload: bytes, model: str) -> bool:
    """Whether a series message is ``model``'s (any model's when ``model`` is empty); an unreadable one is not."""
    if not model:
        return True
    try:
        return bool(json.loads(payload).get("model") == model)
    except (ValueError, AttributeError):
        return False


def read_series(config: EmhassConfig) -> dict[str, Any]:
    if config.series_file is not None:
        text = Path(config.series_file).read_bytes()
        if not of_model(text, config.model):
            raise ValueError(f"{config.series_file} does not hold a series of model {config.model!r}")
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    return next_series(config)


def main(argv: list[str] | None = None) -> int:
    config = parse_options(EmhassConfig, argv, build_parser(EmhassConfig, "python -m device.emhass", __doc__))
    try:
        message = read_series(config)
        body = runtime_parameters(message, config.step_minutes)
    except (TimeoutError, ValueError, KeyError, OSError) as exc:
        log.error("%s", exc)
        return 1
    log.info(
        "meter %s: %s made at %s, %d values",
        config.meter,
        message["model"],
        message["made_ts"],
        len(body["load_power_forecast"]),
    )
    sys.stdout.write(json.dumps(body) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
