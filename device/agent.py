"""The wattcast device agent: meter readings in over MQTT, forecasts and their costs out.

Run ``python device/agent.py --help`` (or ``python -m device.agent``). Others embed it through
:class:`Agent` (``start()`` / ``stop()``) or :func:`run_agent`. It imports only the standard library, numpy,
paho-mqtt and a TFLite runtime.

Threads: paho's network thread only timestamps each message and puts it in an inbox; one worker thread owns all
state (streams, models, scores), so nothing on the hot path takes a lock except the metrics counters, and a publish
that has to wait for paho's queue never blocks the network thread that drains it.

Reloading (SIGHUP, :meth:`Agent.request_reload`, or a change of ``<assets>/manifest.json`` seen every
``--reload-check-s``): the worker re-reads the assets between two batches (device/models/reload.py verifies every file
before building anything), so a batch always runs on one model set and a refused reload leaves the old one serving.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import sys
import threading
import time
import tracemalloc
from typing import Any

from device.clock import HouseholdTime
from device.config import AgentConfig, build_parser, load_config
from device.forecasting.forecaster import Forecaster, Prediction, Step
from device.forecasting.series import SeriesForecast, series_message
from device.forecasting.stream import Outcome
from device.io.metrics import AgentMetrics
from device.io.outputs import PredictionLog, write_json_atomic
from device.io.ratelog import RateLimitedLog
from device.io.recorder import Recorder
from device.io.state import load_state, save_state
from device.models.entry import ModelEntry
from device.models.load import load_models
from device.models.manifest import MANIFEST_NAME, AssetIntegrityError, locate_assets
from device.models.reload import plan_reload
from device.mqtt import homeassistant
from device.mqtt.link import Inbound, MqttLink
from device.readings import Reading, format_minute
from device.sources.intake import SourceIntake

__all__ = ["Agent", "AgentConfig", "load_config", "run_agent", "main"]
log = logging.getLogger("wattcast.agent")
_IDLE_POLL_S = 0.1
_INBOX_WAIT_S = 0.5
_TICK_S = 1.0  # how often quiet meters' open minutes are checked for closing
#: With --shared-group, a meter whose readings arrive this many times in a row each after a hole of absent minutes
#: is being split by the broker, message by message, between the group's agents.
SPLIT_METER_HOLES = 8


class AgentFailure(RuntimeError):
    """The agent stopped because it cannot work correctly here (the message says why and what to change)."""


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


class Agent:
    """Load and verify the models, then (on :meth:`start`) serve readings until :meth:`stop`."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        if config.tracemalloc_readings > 0:
            tracemalloc.start()  # loading is part of the sample: it is where most Python memory is allocated
        try:
            self._build(config)
        except BaseException:
            tracemalloc.stop()  # a refused start must not leave the embedding process traced (and slow)
            raise

    @staticmethod
    def own_topics(config: AgentConfig) -> tuple[str, ...]:
        """The topic prefixes of what this agent publishes (its outputs, its Home Assistant discovery configs): a
        subscription wide enough to see them (``#``, ``homeassistant/sensor/+/+``) must never read them as meters."""
        return config.topic(""), f"{config.ha_prefix}/sensor/{config.agent_id}/"

    def _build(self, config: AgentConfig) -> None:
        """Sources, models, forecaster, metrics, state and the MQTT link (inside the memory sample)."""
        household = HouseholdTime(config.timezone)
        self.intake = SourceIntake(
            config.source,
            household,
            config.reading_limits,
            config.reading_prefix,
            config.max_payload_bytes,
            config.resample_grace_s,
            config.max_gap_minutes,
            config.max_meters,
            own_topics=self.own_topics(config),
        )
        self.assets = locate_assets(config.assets)
        self._manifest_seen = self._manifest_signature()  # before reading it: a change while loading is seen
        self._next_manifest_check = time.monotonic() + config.reload_check_s
        self._reload_requested = threading.Event()
        models = load_models(self.assets, config.models, config.runtime, config.num_threads, usable=self._usable)
        self.forecaster = Forecaster(
            models, config.max_gap_minutes, config.dedupe_minutes, config.max_meters, household.local_minutes
        )
        self.metrics = AgentMetrics(
            config.agent_id, self.forecaster, config.latency_window, config.tracemalloc_readings
        )
        if config.state_file:
            restored = load_state(config.state_file, self.forecaster, self.intake)
            self.metrics.state["restore"] = restored.outcome
        self._unacked: list[tuple[int, int]] = []  # handled, waiting for the next state save to be acknowledged
        self._saved_at = time.monotonic()
        self._ha_status = f"{config.ha_prefix}/status"
        subscriptions = [
            f"$share/{config.shared_group}/{topic}" if config.shared_group else topic
            for topic in self.intake.subscriptions()
        ]
        if config.ha_discovery:
            subscriptions.append(self._ha_status)
        #: why the agent stopped on its own (a refused subscription, a meter split by a shared subscription)
        self.failure: str | None = None
        self.failed = threading.Event()
        self.link = MqttLink(
            config,
            self._receive,
            subscriptions,
            on_connected=self._announce_all,
            on_congested=lambda: self._inbox_has_room.set(),
            on_fatal=self._fail,
        )
        self._inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._inbox_has_room = threading.Event()
        self._worker = threading.Thread(target=self._work, name="wattcast-worker", daemon=True)
        self._predictions = PredictionLog(config.predictions_file) if config.predictions_file else None
        self.recorder = Recorder(config.record, config.record_days, household) if config.record else None
        self._out_of_order_log = RateLimitedLog(log)
        self._latest: dict[str, dict[str, dict[str, Any]]] = {}  # meter -> model -> newest forecast shown in HA
        self._measured: dict[str, int] = {}  # meter -> its newest measured (not held) minute, for Home Assistant
        self._changed_meters: set[str] = set()
        self._announce = threading.Event()  # every discovery config is due (the worker owns the model and meter lists)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Agent:
        self._worker.start()
        self.link.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Process what is already in the inbox, write the files, say offline; returns the final snapshot."""
        self._stopping.set()
        self._worker.join()
        self.metrics.end_allocation_sample()
        if self.recorder:
            self.recorder.close()
        snapshot = self._publish_metrics()
        if self._predictions:
            for meter in self.forecaster.meters.values():
                for track in meter.tracks.values():
                    for p in track.pending.values():
                        self._predictions.write(p)
            self._predictions.close()
        self.link.stop()
        return snapshot

    def _fail(self, reason: str) -> None:
        """Stop taking readings (those not yet handled stay unacknowledged at the broker) and say why."""
        if self.failure is None:
            self.failure = reason
            log.error("stopping: %s", reason)
        self._stopping.set()
        self.failed.set()

    def pending_messages(self) -> int:
        """Messages received but not yet processed (an approximation: SimpleQueue.qsize)."""
        return self._inbox.qsize()

    # --- network thread --------------------------------------------------------------------------------------
    def _receive(self, message: Inbound) -> None:
        if self._inbox.qsize() >= self.config.max_inbox and not self.link.congested:
            # Hold paho's network thread: it reads no more from the socket, so TCP pushes back and the broker keeps
            # the backlog (Mosquitto 2.0.11 does not hold to our Receive Maximum once acknowledgements flow). Never
            # while the worker waits for paho to send (only this thread can make room there), and never for long.
            self._inbox_has_room.clear()
            self.metrics.inbox_waits += 1
            self._inbox_has_room.wait(_INBOX_WAIT_S)
        self._inbox.put(message)

    def _announce_all(self) -> None:
        """Have the worker (re)publish every discovery config; called on connect and when Home Assistant comes back."""
        if self.config.ha_discovery:
            self._announce.set()

    def request_reload(self) -> None:
        """Reload the models from the assets folder between two batches (thread-safe; what SIGHUP calls)."""
        self._reload_requested.set()

    # --- worker thread ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        next_metrics = time.monotonic() + self.config.metrics_interval_s
        next_tick = time.monotonic() + _TICK_S
        while True:
            batch = self._take_batch()
            if batch:
                self._inbox_has_room.set()
                self._handle_batch(batch)
                if self.failure:  # this batch showed the agent cannot work here: the broker keeps it
                    return
                self._unacked += [message.ack for message in batch]
            self._acknowledge(force=not batch and self._stopping.is_set())
            if not batch and self._stopping.is_set():
                return
            if self._reload_requested.is_set() or self._manifest_changed():
                self._reload()
            if self._announce.is_set():
                self._announce.clear()
                self._publish_discovery([m.name for m in self.forecaster.models])
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + _TICK_S
                closed = self.intake.tick(time.time())
                if closed:
                    self._forecast(closed, [time.perf_counter_ns()] * len(closed))
            if time.monotonic() >= next_metrics:
                next_metrics = time.monotonic() + self.config.metrics_interval_s
                self._publish_metrics()

    def _usable(self, entries: list[ModelEntry]) -> list[ModelEntry]:
        """The models these sources can feed, at start and on every reload alike."""
        return self.intake.usable_models(entries, chosen=bool(self.config.models))

    def _manifest_signature(self) -> tuple[int, int, int] | None:
        try:
            st = (self.assets / MANIFEST_NAME).stat()
        except OSError:
            return None  # gone: a reload would be refused; it is tried once it comes back
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _manifest_changed(self) -> bool:
        """Whether the manifest file is not the one last loaded or refused (looked at every ``reload_check_s``)."""
        if self.config.reload_check_s <= 0 or time.monotonic() < self._next_manifest_check:
            return False
        self._next_manifest_check = time.monotonic() + self.config.reload_check_s
        if self._manifest_signature() == self._manifest_seen:
            return False
        log.info("%s changed: reloading", self.assets / MANIFEST_NAME)
        return True

    def _reload(self) -> None:
        """Swap in the assets' models; refused as a whole (logged, counted) if anything is wrong with them, and then
        not retried for this manifest file until it changes again (or on a new request)."""
        self._reload_requested.clear()
        self._manifest_seen = self._manifest_signature()
        try:
            plan = plan_reload(
                self.forecaster.models,
                self.assets,
                self.config.models,
                self.config.runtime,
                self.config.num_threads,
                self._usable,
            )
        except Exception as exc:  # whatever fails reading, verifying or building them, the running models serve on
            reason = f"{type(exc).__name__}: {exc}"
            log.error("refused to reload %s: %s; the running models keep serving", self.assets, reason)
            self.metrics.reload_refused(reason)
            return
        let_go = self.forecaster.swap_models(plan.models)
        if self._predictions:
            for p in let_go:  # the changed and dropped models' forecasts that will never be scored
                self._predictions.write(p)
        for meter, latest in self._latest.items():  # the meters' Home Assistant state forgets the dropped models
            if latest.keys() & set(plan.dropped):
                for name in plan.dropped:
                    latest.pop(name, None)
                self._changed_meters.add(meter)
        log.info("reloaded %s: %s", self.assets, plan.summary())
        if self.config.ha_discovery:
            self._publish_discovery(plan.added + plan.changed)
            self._publish_discovery(plan.dropped, remove=True)
        if self.config.state_file:
            self._save_state()  # its model descriptions follow the new set
        self.metrics.reloaded(plan)  # last: a reload counted as done is complete

    def _publish_discovery(self, models: list[str], remove: bool = False) -> None:
        """The discovery configs of ``models`` on every known meter; ``remove``: empty retained payloads, which
        delete those entities in Home Assistant."""
        configs = homeassistant.discovery_configs(
            self.config, models, list(self.forecaster.meters), self._recommended(), *self._series_models()
        )
        for topic, payload in configs:
            self.link.publish(topic, b"" if remove else _json(payload), retain=True)

    def _acknowledge(self, force: bool = False) -> None:
        """Acknowledge handled messages: at once without a state file; with one, only after saving the state that
        holds them (at most every ``state_interval_s``), so a crash never loses a reading the broker let go. The state
        holds the sources' open minutes too: a sample that closed no minute yet is as safe as a reading."""
        if not self._unacked:
            return
        if self.config.state_file:
            due = time.monotonic() - self._saved_at >= self.config.state_interval_s
            if not (force or due or len(self._unacked) >= self.config.state_max_unacked):
                return
            self._save_state()
        for ack in self._unacked:
            self.link.ack(ack)
        self._unacked.clear()

    def _save_state(self) -> None:
        if self.config.state_file is None:
            return
        started = time.perf_counter_ns()
        try:
            size = save_state(self.config.state_file, self.forecaster, self.intake)
        except (OSError, ValueError) as exc:  # a full disk must not stop the forecasts; the guarantee is lost
            self.metrics.state["failed"] += 1
            log.error("could not save the state to %s: %s", self.config.state_file, exc)
        else:
            self.metrics.state.update(
                saves=self.metrics.state["saves"] + 1, bytes=size, last_save_ms=(time.perf_counter_ns() - started) / 1e6
            )
        self._saved_at = time.monotonic()

    def _take_batch(self) -> list[Inbound]:
        """Wait briefly for one message, then take whatever else is already waiting, up to ``max_batch``."""
        try:
            batch = [self._inbox.get(timeout=_IDLE_POLL_S)]
        except queue.Empty:
            return []
        while len(batch) < self.config.max_batch:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle_batch(self, batch: list[Inbound]) -> None:
        readings: list[Reading] = []
        received: list[int] = []
        now_s, now_ns = time.time(), time.perf_counter_ns()
        for message in batch:
            if message.topic == self._ha_status:
                if message.payload == b"online":
                    self._announce_all()
                continue
            arrival_s = now_s - (now_ns - message.received_ns) / 1e9  # a sample without a timestamp takes this
            taken = self.intake.read(message.topic, message.payload, arrival_s, message.retained)
            readings += taken
            received += [message.received_ns] * len(taken)
        if readings:
            self._forecast(readings, received)

    def _forecast(self, readings: list[Reading], received: list[int]) -> None:
        """Run the models over readings (each with its message's receive time), publish and count."""
        new_meters = [m for m in dict.fromkeys(r.meter for r in readings) if m not in self.forecaster.meters]
        if self.config.ha_discovery:
            for reading in readings:
                if not reading.held and reading.minute > self._measured.get(reading.meter, -1):
                    self._measured[reading.meter] = reading.minute
        steps = self.forecaster.process_batch(readings)
        if self.config.shared_group and self._split_meter(readings):
            return
        if self.recorder:
            for reading, step in zip(readings, steps):
                self.recorder.record(reading.meter, step.update, reading.values)
            self.recorder.flush()
        self._log_out_of_order(readings, steps)
        published: list[tuple[Prediction | SeriesForecast, int, int]] = []
        published += self._publish_predictions(steps, received)
        published += self._publish_series(steps, received)
        if self._predictions:
            for step in steps:
                for p in step.scored + step.rescored + step.dropped:
                    self._predictions.write(p)
        self.metrics.count_batch(
            [s.update for s in steps], published, self.forecaster.evicted_meters, [p for s in steps for p in s.rescored]
        )
        if self.config.ha_discovery:
            for meter in new_meters:
                self._announce_meter(meter)

    def _split_meter(self, readings: list[Reading]) -> bool:
        """With a shared subscription: fail if a meter's readings keep arriving after holes, i.e. the broker
        hands this agent only part of each meter's minutes."""
        for meter in dict.fromkeys(r.meter for r in readings):
            state = self.forecaster.meters.get(meter)
            if state is not None and state.stream.holes_in_a_row >= SPLIT_METER_HOLES:
                self._fail(
                    f"meter {meter}: its last {state.stream.holes_in_a_row} readings each came after absent minutes: "
                    f"the broker splits the shared subscription $share/{self.config.shared_group}/... message by "
                    "message, so every agent of the group sees only part of each meter's minutes and would forecast "
                    "and score from filled values. Use a broker that shares by topic (e.g. EMQX's hash_topic "
                    "strategy), or one agent per partition of a NATS cluster (--partition K/N, deploy/nats/)"
                )
                return True
        return False

    def _log_out_of_order(self, readings: list[Reading], steps: list[Step]) -> None:
        """Say which meter's minutes came out of order: taken in place of filled values (refilled), or dropped
        (late past the dedupe horizon, or a null with nothing to fill it from), with the meter and its topic."""
        for reading, step in zip(readings, steps):
            outcome = step.update.outcome
            if outcome is Outcome.REFILLED:
                self._out_of_order_log.warning(
                    "refilled",
                    "meter %s: the real value of %s came late and replaced %d filled minutes; %d forecasts re-scored",
                    reading.meter,
                    reading.ts,
                    len(step.update.minutes),
                    len(step.rescored),
                )
            elif outcome in (Outcome.LATE, Outcome.UNFILLABLE):
                self.intake.log_stream_drop(reading.meter, outcome.value)

    def _publish_predictions(self, steps: list[Step], received: list[int]) -> list[tuple[Prediction, int, int]]:
        """Publish the batch's predictions, one message each or (``--batch-predictions``) one list for all;
        returns each with its reading's receive time and its publish time, for the end-to-end latency."""
        made = [
            (p, received_ns, self._prediction_body(p))
            for step, received_ns in zip(steps, received)
            for p in step.predictions
        ]
        if self.config.ha_discovery:
            for p, _, _ in made:
                if homeassistant.fresh_enough(p.minute, self._measured.get(p.meter)):
                    self._latest.setdefault(p.meter, {})[p.model] = homeassistant.forecast_state(p)
                    self._changed_meters.add(p.meter)
        if not self.config.batch_predictions:
            published = []
            for p, received_ns, body in made:
                self.link.publish(self.config.topic("prediction"), _json(body))
                published.append((p, received_ns, time.perf_counter_ns()))
            return published
        if made:
            self.link.publish(
                self.config.topic("predictions"),
                json.dumps([body for *_, body in made], separators=(",", ":"), allow_nan=False).encode(),
            )
        now = time.perf_counter_ns()
        return [(p, received_ns, now) for p, received_ns, _ in made]

    def _publish_series(self, steps: list[Step], received: list[int]) -> list[tuple[SeriesForecast, int, int]]:
        """One message per series forecast on ``devices/<agent>/meters/<meter>/series`` (never batched: a consumer
        such as ``python -m device.emhass`` takes the newest whole message), and the newest one per meter and model for
        Home Assistant."""
        published = []
        for step, received_ns in zip(steps, received):
            for forecast in step.series:
                body = series_message(forecast)
                self.link.publish(series_topic(self.config, forecast.meter), _json(body))
                published.append((forecast, received_ns, time.perf_counter_ns()))
                if self.config.ha_discovery and homeassistant.fresh_enough(
                    forecast.minute, self._measured.get(forecast.meter)
                ):
                    self._latest.setdefault(forecast.meter, {})[forecast.model] = homeassistant.series_state(forecast)
                    self._changed_meters.add(forecast.meter)
        return published

    @staticmethod
    def _prediction_body(p: Prediction) -> dict[str, Any]:
        return {
            "meter": p.meter,
            "model": p.model,
            "ts": format_minute(p.minute),
            "target_ts": format_minute(p.target_minute),
            "predicted_kw": p.predicted_kw,
            "latency_us": p.latency_ns / 1e3,
        }

    def _recommended(self) -> str | None:
        return homeassistant.recommended_model([m.entry for m in self.forecaster.models])

    def _series_models(self) -> tuple[dict[str, int], str | None]:
        """The series models running, with their horizons in minutes (Home Assistant shows them as series sensors),
        and the one enabled by default."""
        entries = [m.entry for m in self.forecaster.models]
        horizons = {e.name: e.window.series.steps * e.window.series.step_minutes for e in entries if e.window.series}
        return horizons, homeassistant.recommended_series(entries)

    def _announce_meter(self, meter: str) -> None:
        names = [m.name for m in self.forecaster.models]
        configs = homeassistant.meter_configs(self.config, meter, names, self._recommended(), *self._series_models())
        for topic, payload in configs:
            self.link.publish(topic, _json(payload), retain=True)

    def _publish_metrics(self) -> dict[str, Any]:
        snapshot = self.metrics.snapshot(self.intake.rejected_by_reason(), self.intake.rejected_readings())
        snapshot["publish"] = dict(self.link.counters)
        snapshot["inbox"] = self.pending_messages()
        snapshot["sources"] = self.intake.snapshot()
        if self.recorder:
            snapshot["recording"] = self.recorder.snapshot()
        self.link.publish(self.config.topic("metrics"), _json(snapshot))
        for meter in self._changed_meters:  # not retained: a restarted HA must not get back an expired forecast
            self.link.publish(homeassistant.meter_state_topic(self.config, meter), _json(self._latest[meter]))
        self._changed_meters.clear()
        if self.config.metrics_file:
            write_json_atomic(self.config.metrics_file, snapshot)
        if self._predictions:
            self._predictions.flush()
        return snapshot


def series_topic(config: AgentConfig, meter: str) -> str:
    """Where a meter's series forecasts go: ``devices/<agent>/meters/<meter>/series``."""
    return config.topic(f"meters/{meter}/series")


def run_agent(config: AgentConfig, stop_event: threading.Event | None = None) -> dict[str, Any]:
    """Run until ``stop_event`` is set (or SIGINT/SIGTERM in the main thread, where SIGHUP reloads the models);
    returns the final metrics."""
    stop_event = stop_event or threading.Event()
    hangup = threading.Event()  # SIGHUP: reload the models (one that comes while they load is served once started)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop_event.set())
        signal.signal(signal.SIGHUP, lambda *_: hangup.set())
    agent = Agent(config).start()
    log.info("agent %s running models %s", config.agent_id, ",".join(m.name for m in agent.forecaster.models))
    while not stop_event.wait(_IDLE_POLL_S) and not agent.failed.is_set():
        if hangup.is_set():
            hangup.clear()
            agent.request_reload()
    log.info("stopping")
    snapshot = agent.stop()
    if agent.failure:
        raise AgentFailure(agent.failure)
    return snapshot


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ValueError as exc:  # a bad option value: say which, as argparse does for a bad option
        build_parser().error(str(exc))
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_agent(config)
    except (AssetIntegrityError, KeyError, ValueError, ImportError, AgentFailure) as exc:
        log.error("cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
