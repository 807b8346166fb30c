"""The agent's one configuration dataclass, filled from defaults < a TOML file < WATTCAST_* env vars < the CLI.

Every option is declared once, as a dataclass field whose metadata carries its ``--help`` text, so the CLI, the
TOML keys (the field names) and the environment variables (``WATTCAST_`` + the upper-case field name) cannot drift.
The broker password is never an option: it comes from ``--password-file`` or ``WATTCAST_PASSWORD`` and is kept out
of ``repr`` so it is never logged.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from device.models.families.tflite import RUNTIME_CHOICES
from device.models.manifest import DEFAULT_ASSETS
from device.mqtt.settings import BrokerSettings, read_password_file
from device.options import add_options, cli_fields, convert, values_from
from device.options import option as _opt
from device.readings import ReadingLimits
from device.sources.reader import SOURCE_NAMES, Source

ENV_PREFIX = "WATTCAST_"
#: Home Assistant's rule for a discovery topic's node id, which the agent id is.
AGENT_ID = re.compile(r"[a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class AgentConfig:
    """Everything ``python device/agent.py`` can be told."""

    broker: str = _opt(
        "mqtt://127.0.0.1:1883",
        "broker URL: mqtt://host:port, or mqtts://host:port for TLS; a "
        "comma-separated list (e.g. the nodes of a NATS cluster) fails over to the next URL whenever "
        "the connection drops or cannot be made",
    )
    assets: Path = _opt(
        DEFAULT_ASSETS,
        "folder with manifest.json and the model files it lists; a relative "
        "one missing from the working directory is taken from beside the device package (logged)",
    )
    reload_check_s: float = _opt(
        5.0,
        "look at <assets>/manifest.json this often (seconds) and reload the models "
        "when it changed, as on SIGHUP; 0: only on SIGHUP",
    )
    #: Empty: every model in the manifest. The agent runs on a Pi-class device, which has room for every model
    #: shipped, so by default it scores them all, the recommended one included.
    models: tuple[str, ...] = _opt(
        (), "comma-separated manifest model names, run side by side", shown="every model in the manifest"
    )
    agent_id: str = _opt("pi01", "this agent's id: MQTT client id, topic segment devices/<agent_id>/...")
    topic_prefix: str = _opt("meter", "readings arrive on <topic_prefix>/<meter_id>/reading")
    source: tuple[Source, ...] = _opt(
        (Source("wattcast"),),
        "what the meters publish, repeatable: " + ", ".join(SOURCE_NAMES) + "; each with its "
        "default topic (see docs/meters.md); a profile sending plain numbers needs its unit: esphome:W. "
        "In the TOML file, [[source]] tables may also set topic, meter, unit and field",
        repeat=True,
    )
    timezone: str = _opt(
        "",
        "IANA time zone of the household (e.g. Europe/Paris): timestamps without an offset are "
        "read in it and the calendar features computed in it; everything else is UTC. Empty: this "
        "machine's zone",
    )
    resample_grace_s: float = _opt(
        5.0,
        "a minute of a non-wattcast source is closed once a sample this many "
        "seconds past its end arrives (or our clock passes that); older samples are late",
    )
    device_prefix: str = _opt("devices", "outputs go to <device_prefix>/<agent_id>/{prediction,metrics,status}")
    shared_group: str = _opt(
        "",
        "subscribe via $share/<group>/... so several agents split the meters (MQTT 5); "
        "only with a broker that shares by topic (e.g. EMQX's hash_topic strategy): one that "
        "shares by message (Mosquitto) splits each meter's minutes, and the agent stops with an "
        "error when it sees that",
    )
    partition: str = _opt(
        "",
        "K/N: take partition K of N (0 <= K < N): subscribe to part/K/<topic_prefix>/+/reading, "
        "as a NATS cluster's partition mapping publishes it (deploy/nats/); every meter then "
        "reaches exactly one agent",
    )
    mqtt_version: str = _opt(
        "5", "MQTT protocol version: 5, or 3.1.1 (e.g. for the demo's amqtt broker, or NATS, which refuses MQTT 5)"
    )
    session_expiry_s: int = _opt(7 * 24 * 3600, "how long the broker keeps our session and queue while we are away")
    receive_maximum: int = _opt(
        65535,
        "MQTT 5: ask the broker for at most this many readings in flight to us "
        "unacknowledged (default: MQTT's own maximum; Mosquitto 2.0.11 mishandles smaller "
        "values, see docs/agent.md; --max-inbox is the agent's own bound)",
    )
    max_inbox: int = _opt(
        5000,
        "readings waiting to be handled: past it paho stops reading from the socket for a "
        "while, so the broker keeps the backlog (holds while the agent's own work is the "
        "bottleneck, not under a flood: see docs/agent.md)",
    )
    keepalive_s: int = _opt(30, "MQTT keepalive in seconds")
    username: str = _opt("", "broker username (the password comes from --password-file or WATTCAST_PASSWORD)")
    password_file: Path | None = _opt(None, "file whose first line is the broker password")
    password: str = field(default="", repr=False, metadata={"help": "", "cli": False})
    ca_file: Path | None = _opt(None, "CA certificate to verify the broker (turns TLS on)")
    cert_file: Path | None = _opt(None, "client certificate for TLS client authentication (optional)")
    key_file: Path | None = _opt(None, "private key of --cert-file")
    runtime: str = _opt(
        "auto",
        "TFLite runtime: auto (the int8 LSTMs on wattcast, the rest on ai-edge-litert, tflite-runtime or "
        "tensorflow, whichever imports first), wattcast (the project's own C runtime, built at install: int8 "
        "LSTMs only, bit-exact with the firmware), litert, tflite-runtime, tensorflow, or tflm (TFLM's own "
        "interpreter, from the tflite-micro package: x86_64 only)",
        choices=RUNTIME_CHOICES,
    )
    num_threads: int = _opt(1, "threads per TFLite interpreter (1 gives the lowest single-window latency)")
    max_gap_minutes: int = _opt(15, "absent minutes up to this are forward-filled; a longer gap resets the meter")
    dedupe_minutes: int = _opt(
        1440,
        "a reading for any of this many recent minutes that already arrived is a "
        "duplicate (QoS 1 resends); costs 2 bytes per minute and meter",
    )
    max_meters: int = _opt(
        10_000,
        "meters kept at once, bounding memory; a new meter past it evicts the one "
        "heard from least recently (counted as meters_evicted)",
    )
    max_batch: int = _opt(
        256,
        "readings that queued while the last batch ran are handled together, up to this "
        "many: the models run once per meter and batch, so a busy agent keeps up",
    )
    max_payload_bytes: int = _opt(4096, "larger payloads are rejected unread")
    # Range checks (device.readings.ReadingLimits, which says why these defaults): outside them a reading is
    # rejected as out_of_range or ts_out_of_range.
    max_power_kw: float = _opt(50.0, "gap and grp above this many kW (or below 0) are rejected as out_of_range")
    max_voltage_v: float = _opt(500.0, "v above this many volts (or below 0) is rejected as out_of_range")
    max_current_a: float = _opt(250.0, "gi above this many amperes (or below 0) is rejected as out_of_range")
    max_submeter_wh: float = _opt(
        1000.0, "sm1..sm3 above this many Wh in the minute (or below 0) are rejected as out_of_range"
    )
    earliest_ts: str = _opt("2000-01-01T00:00:00", "readings stamped before this are rejected as ts_out_of_range")
    max_ahead_minutes: int = _opt(
        1440, "readings stamped more than this many minutes past the agent's UTC clock are rejected as ts_out_of_range"
    )
    state_file: Path | None = _opt(
        None,
        "keep every meter's windows, pending predictions and scores in this file "
        "across restarts; readings are then acknowledged only once saved in it",
    )
    state_interval_s: float = _opt(1.0, "save the state at most this often (and acknowledge what it holds)")
    state_max_unacked: int = _opt(
        1000,
        "save early once this many readings wait for their acknowledgement (an MQTT "
        "3.1.1 broker may send no more than its max_inflight_messages unacknowledged)",
    )
    metrics_interval_s: float = _opt(10.0, "seconds between metrics publications and metrics-file writes")
    metrics_file: Path | None = _opt(None, "write the metrics snapshot (JSON) here periodically and at exit")
    predictions_file: Path | None = _opt(
        None, "write every prediction (CSV: meter,model,ts,target_ts,predicted,actual) here"
    )
    record: Path | None = _opt(
        None,
        "append every closed minute of every meter (UTC and local time, the measurements "
        "the source sends, filled or real) to DIR/<meter>/<UTC day>.csv, the CSV layout "
        "python -m train --data reads (docs/own-house.md)",
    )
    record_days: int = _opt(
        90,
        "keep each meter's newest this many UTC days of --record, by the data's time (90: "
        "8 weeks to train on and a week held out, with room to spare)",
    )
    batch_predictions: bool = _opt(
        False,
        "publish each batch's predictions as one JSON list on "
        "<device_prefix>/<agent_id>/predictions instead of one message per prediction on "
        ".../prediction: for a fleet, where a message per forecast costs more than the "
        "forecast",
    )
    ha_discovery: bool = _opt(True, "publish Home Assistant MQTT discovery configs")
    ha_prefix: str = _opt("homeassistant", "Home Assistant discovery prefix")
    ha_expire_after_s: int = _opt(
        300,
        "a forecast sensor with no new forecast for this many seconds goes "
        "unavailable in Home Assistant (a meter that stopped or was evicted)",
    )
    tracemalloc_readings: int = _opt(
        200,
        "trace Python allocations while loading and for the first N readings "
        "(0: never); tracing slows the hot path, so it is only a sample",
    )
    latency_window: int = _opt(16_384, "percentiles are over the last N latency samples per model")
    publish_retry_s: float = _opt(
        30.0, "how long to retry a publish the client queue refuses before counting it as failed"
    )
    log_level: str = _opt("INFO", "logging level")

    def __post_init__(self) -> None:
        if not AGENT_ID.fullmatch(self.agent_id):
            raise ValueError(
                f"agent_id must match {AGENT_ID.pattern} (it is a topic level and, for Home Assistant, "
                f"part of the discovery topic), got {self.agent_id!r}"
            )
        self.broker_settings  # noqa: B018  (raises ValueError naming a bad URL list or MQTT version)
        if self.partition:
            _partition_index(self.partition)
        if self.partition and self.shared_group:
            raise ValueError("partition and shared_group exclude each other: a partition already has one agent")
        if not 0 < self.state_max_unacked < self.receive_maximum:
            raise ValueError(
                "state_max_unacked must be above 0 and below receive_maximum, or the broker would stop "
                f"sending before a save: got {self.state_max_unacked} and {self.receive_maximum}"
            )

    @property
    def reading_limits(self) -> ReadingLimits:
        """The range-check options as the parser takes them."""
        return ReadingLimits(**{f.name: getattr(self, f.name) for f in fields(ReadingLimits)})

    @property
    def broker_settings(self) -> BrokerSettings:
        """The broker options as every MQTT client here takes them (device/mqtt/settings.py)."""
        return BrokerSettings(
            url=self.broker,
            mqtt_version=self.mqtt_version,
            username=self.username or None,
            password_file=self.password_file,
            password=self.password or None,
            ca_file=self.ca_file,
            cert_file=self.cert_file,
            key_file=self.key_file,
            username_env=f"{ENV_PREFIX}USERNAME",
            password_env=f"{ENV_PREFIX}PASSWORD",
        )

    @property
    def reading_prefix(self) -> str:
        """The topic levels before ``<meter_id>/reading``: ``meter``, or ``part/K/meter`` for a partition."""
        if not self.partition:
            return self.topic_prefix
        return f"part/{_partition_index(self.partition)[0]}/{self.topic_prefix}"

    def topic(self, leaf: str) -> str:
        """An output topic of this agent, e.g. ``devices/pi01/prediction``."""
        return f"{self.device_prefix}/{self.agent_id}/{leaf}"

    def with_secret(self, environ: Mapping[str, str] | None = None) -> AgentConfig:
        """Fill :attr:`password` from the password file or ``WATTCAST_PASSWORD`` (the file wins)."""
        if self.password_file is not None:
            return replace(self, password=read_password_file(self.password_file))
        env = os.environ if environ is None else environ
        return replace(self, password=env.get(f"{ENV_PREFIX}PASSWORD", self.password))


def _partition_index(partition: str) -> tuple[int, int]:
    """(K, N) of ``K/N``; raises ValueError unless 0 <= K < N."""
    k, _, n = partition.partition("/")
    if not (k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise ValueError(f"partition must be K/N with 0 <= K < N, got {partition!r}")
    return int(k), int(n)


def build_parser() -> argparse.ArgumentParser:
    """The CLI: one option per config field, help text from the field (:mod:`device.options`)."""
    parser = argparse.ArgumentParser(
        prog="python device/agent.py",
        allow_abbrev=False,
        description="wattcast device agent: reads meter readings over MQTT, forecasts power a few minutes ahead with "
        "several models side by side, scores them online and reports their latency, memory and energy. Every option "
        f"may also come from a TOML file (--config; keys are the option names with _) or {ENV_PREFIX}<NAME> "
        "environment variables; the command line wins.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"TOML file with options (keys as in --help, dashes as _) (default: ${ENV_PREFIX}CONFIG, else none)",
    )
    add_options(parser, AgentConfig)
    return parser


def load_config(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> AgentConfig:
    """Defaults, then the TOML file, then ``WATTCAST_*`` variables, then the command line."""
    environ = dict(os.environ if environ is None else environ)
    args = build_parser().parse_args(argv)
    hints = get_type_hints(AgentConfig)
    values: dict[str, Any] = {}
    config_path = args.config or environ.get(f"{ENV_PREFIX}CONFIG")
    if config_path:
        raw = tomllib.loads(Path(config_path).read_text())
        unknown = set(raw) - {f.name for f in cli_fields(AgentConfig)}
        if unknown:
            raise ValueError(f"{config_path}: unknown options {sorted(unknown)}")
        values.update({k: convert(v, hints[k]) for k, v in raw.items()})
    for f in cli_fields(AgentConfig):
        env_value = environ.get(ENV_PREFIX + f.name.upper())
        if env_value is not None:
            values[f.name] = convert(env_value, hints[f.name])
    values.update(values_from(args, AgentConfig))
    return AgentConfig(**values).with_secret(environ)
