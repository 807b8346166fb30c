"""What real homes send besides the normal payloads (issue 22), each case with the payload as the device's own docs
show it: nothing stale, foreign or missing is taken as a measured minute."""

from __future__ import annotations

import json
import logging

import pytest

from device.clock import HouseholdTime
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from tests.sources_examples import T0

PARIS = HouseholdTime("Europe/Paris")
MINUTE0 = int(T0 // 60)


def intake_for(*specs: str | dict, zone: HouseholdTime = PARIS) -> SourceIntake:
    return SourceIntake(tuple(Source.parse(s) for s in specs), zone, DEFAULT_LIMITS, grace_s=5.0)


def minutes_of(readings: list[Reading]) -> list[tuple[int, float, bool]]:
    return [(r.minute - MINUTE0, round(float(r.values[0]), 6), r.held) for r in readings]


# --- case 1: null is a missing value ---------------------------------------------------------------------------


def test_a_zigbee2mqtt_null_power_is_a_missing_value_left_out_of_the_mean_not_the_earlier_value_held():
    """Zigbee2MQTT publishes ``"power": null`` when a plug has no reading (zigbee2mqtt.io device pages list power as
    a nullable numeric expose)."""
    intake = intake_for("zigbee2mqtt")
    readings = []
    for dt, power in ((0, 900), (30, None), (40, 600), (70, 600), (130, 600)):
        body = {"state": "ON", "power": power, "energy": 1.23, "linkquality": 120}
        readings += intake.read("zigbee2mqtt/kitchen_plug", json.dumps(body).encode(), T0 + dt)
    # minute 0: 900 W for 30 s, unknown for 10 s, 600 W for 20 s: the mean of what is known, not 900 W held on
    assert minutes_of(readings) == [(0, 0.78, False), (1, 0.6, False)]
    counts = intake.snapshot()["zigbee2mqtt"]
    assert counts["missing_values"] == 1 and counts["rejected"] == {}


def test_a_tasmota_null_power_is_a_missing_value_and_a_minute_of_nulls_is_not_a_held_minute():
    """Tasmota's SENSOR message with ``"Power": null`` (a channel without a reading)."""
    intake = intake_for("tasmota")
    readings = []
    for dt, power in ((0, 500), (60, None), (90, None), (180, 700), (250, 700)):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        body = {"Time": wall, "ENERGY": {"Power": power, "Voltage": 231}}
        readings += intake.read("tele/plug1/SENSOR", json.dumps(body).encode(), T0 + dt)
    # minute 1 and 2 hold only nulls: absent (for the stream to fill and mark), never 0.5 kW held and shown as read
    assert minutes_of(readings) == [(0, 0.5, False), (3, 0.7, False)]
    assert intake.snapshot()["tasmota"]["missing_values"] == 2


# --- case 2: a retained message is never a measured minute ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "topic", "payload", "meter"),
    [
        ("esphome:W", "node1/sensor/power/state", b"777.0", "node1"),  # a dead ESPHome node's last state
        ("statestream:W", "homeassistant/sensor/house_power/state", b"1500", "house_power"),
        (  # DSMR-reader publishes its telegram retained, always: this one is 3 hours old
            "dsmr-reader",
            "dsmr/json",
            json.dumps(
                {
                    "timestamp": "2026-11-20T07:00:00Z",
                    "electricity_currently_delivered": "0.523",
                    "electricity_currently_returned": "0.000",
                }
            ).encode(),
            "dsmr",
        ),
    ],
    ids=["esphome", "statestream", "dsmr-reader"],
)
def test_a_retained_message_is_counted_and_logged_with_its_meter_never_a_minute_nor_a_forecasts_basis(
    spec, topic, payload, meter, caplog
):
    caplog.set_level(logging.WARNING)
    intake = intake_for(spec)
    assert intake.read(topic, payload, T0, retained=True) == []
    assert intake.tick(T0 + 3600) == []  # no minute comes of it, held or otherwise
    counts = intake.snapshot()[Source.parse(spec).profile]
    assert counts["rejected"] == {"retained": 1} and counts["samples"] == 0
    assert f"meter {meter}" in caplog.text and "(retained)" in caplog.text


def test_after_a_retained_message_the_first_minute_comes_from_live_samples_only():
    intake = intake_for("esphome:W")
    intake.read("node1/sensor/power/state", b"777.0", T0, retained=True)
    readings = []
    for dt in (10, 40, 70):
        readings += intake.read("node1/sensor/power/state", b"200.0", T0 + dt)
    assert minutes_of(readings) == [(0, 0.2, False)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from tests.device_assets import Series, build_assets

    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled(rows=600))


def test_the_agent_takes_the_brokers_retain_flag_a_retained_telegram_at_start_is_counted_not_read(mosquitto, assets):
    from tests.test_agent_mqtt import publisher, wait_for
    from tests.test_sources_agent import start

    client = publisher(mosquitto.port)
    telegram = {
        "timestamp": "2026-11-20T07:00:00Z",
        "electricity_currently_delivered": "0.523",
        "electricity_currently_returned": "0.000",
    }
    client.publish("dsmr/json", json.dumps(telegram).encode(), qos=1, retain=True).wait_for_publish(10)
    agent = start(mosquitto, assets, ("dsmr-reader",))
    wait_for(lambda: agent.intake.counters["dsmr-reader"]["messages"] == 1, "the retained telegram")
    sources = agent.stop()["sources"]
    assert sources["dsmr-reader"]["rejected"] == {"retained": 1}
    assert (sources["dsmr-reader"]["samples"], sources["dsmr-reader"]["minutes"]) == (0, 0)


# --- case 3: a clock in another zone is never shifted silently ---------------------------------------------------

LONDON = HouseholdTime("Europe/London")


def tasmota_at(wall: str, watts: float) -> bytes:
    """Tasmota's SENSOR message, ``Time`` its local wall clock without a zone (``support.ino`` GetDateAndTime)."""
    return json.dumps({"Time": wall, "ENERGY": {"Power": watts, "Voltage": 231}}).encode()


def test_a_tasmota_on_its_default_fixed_utc_plus_1_in_a_london_house_is_rejected_as_future_with_the_fix(caplog):
    """Tasmota's default ``Timezone 1`` is a fixed UTC+1: at 10:00 UTC in November it stamps 11:00, which read in
    Europe/London (UTC+0 then) is an hour ahead of the message's arrival."""
    caplog.set_level(logging.WARNING)
    intake = intake_for("tasmota", zone=LONDON)
    assert intake.read("tele/plug1/SENSOR", tasmota_at("2026-11-20T11:00:00", 450), T0) == []
    assert intake.tick(T0 + 600) == []
    assert intake.snapshot()["tasmota"]["rejected"] == {"future": 1}
    (line,) = [r.getMessage() for r in caplog.records if "(future)" in r.getMessage()]
    for said in ("meter plug1", "+3600 s", "1 h", "time zone", 'timezone = "Etc/GMT-1"', "[[source]]"):
        assert said in line


def test_a_sources_own_time_zone_reads_its_clock_right():
    intake = intake_for({"profile": "tasmota", "timezone": "Etc/GMT-1"}, zone=LONDON)
    readings = []
    for dt in (0, 30, 70):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        readings += intake.read("tele/plug1/SENSOR", tasmota_at(wall, 450), T0 + dt)
    assert minutes_of(readings) == [(0, 0.45, False)]


def test_a_sample_a_little_ahead_of_its_arrival_is_taken_a_drifting_clock_is_not_a_zone_error():
    intake = intake_for("tasmota", zone=LONDON)
    intake.read("tele/plug1/SENSOR", tasmota_at("2026-11-20T10:01:50", 450), T0)  # 110 s ahead: taken
    assert intake.snapshot()["tasmota"]["samples"] == 1


def test_a_clock_steadily_a_whole_hour_behind_is_taken_but_named_as_a_probable_zone_error(caplog):
    """A Tasmota set to UTC (``Timezone 0``) in a Paris house: its stamps read in Paris are an hour early."""
    caplog.set_level(logging.WARNING)
    intake = intake_for("tasmota")
    for dt in range(0, 300, 30):
        wall = "2026-11-20T10:{:02d}:{:02d}".format(*divmod(dt, 60))
        intake.read("tele/plug1/SENSOR", tasmota_at(wall, 450), T0 + dt)
    lines = [r.getMessage() for r in caplog.records if "zone" in r.getMessage()]
    assert len(lines) == 1  # once per meter
    for said in ("meter plug1", "-3600 s", "1 h", 'timezone = "Etc/GMT"'):
        assert said in lines[0]
    assert intake.snapshot()["tasmota"]["clock_zone_suspects"] == 1


def readings_of(intake: SourceIntake, messages: list[tuple[float, str, bytes | str]]) -> list[Reading]:
    """Every reading the messages complete, each ``(seconds after T0, topic, payload)`` arriving at its time."""
    readings: list[Reading] = []
    for dt, topic, payload in messages:
        readings += intake.read(topic, payload if isinstance(payload, bytes) else payload.encode(), T0 + dt)
    return readings


def by_meter(readings: list[Reading]) -> dict[str, list[tuple[int, float, bool]]]:
    out: dict[str, list[tuple[int, float, bool]]] = {}
    for r in readings:
        out.setdefault(r.meter, []).extend(minutes_of([r]))
    return out


# --- case 7: Shelly Gen2 "status" topics ------------------------------------------------------------------------

#: ``<id>/status/<component>`` payloads as the Shelly Gen2 API docs show each component's status (Switch.GetStatus,
#: EM.GetStatus, EM1.GetStatus, PM1.GetStatus examples, shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/...),
#: which the device publishes whole on that topic with "Generic status update over MQTT" on (gen2/General/MQTT).
SWITCH_STATUS = {
    "id": 0,
    "source": "init",
    "output": True,
    "apower": 8.9,
    "voltage": 237.5,
    "freq": 50,
    "current": 0.116,
    "pf": -0.76,
    "aenergy": {"total": 6.532, "by_minute": [45.199, 47.141, 88.397], "minute_ts": 1654511972},
    "temperature": {"tC": 23.5, "tF": 74.4},
}
EM_STATUS = {
    "id": 0,
    "a_current": 4.029,
    "a_voltage": 236.1,
    "a_act_power": 951.2,
    "a_aprt_power": 951.9,
    "a_pf": 1,
    "b_current": 4.027,
    "b_voltage": 236.201,
    "b_act_power": -951.1,
    "b_aprt_power": 951.8,
    "b_pf": 1,
    "c_current": 3.03,
    "c_voltage": 236.4,
    "c_act_power": 715.4,
    "c_aprt_power": 716.2,
    "c_pf": 1,
    "n_current": 11.029,
    "total_current": 11.083,
    "total_act_power": 715.51,
    "total_aprt_power": 2619.7,
    "user_calibrated_phase": [],
}
EM1_STATUS = {
    "id": 0,
    "current": 2.1,
    "voltage": 230.2,
    "act_power": 471.5,
    "aprt_power": 483.2,
    "pf": 0.97,
    "freq": 50,
}
PM1_STATUS = {
    "id": 0,
    "voltage": 229.4,
    "current": 0.4,
    "apower": 72.3,
    "freq": 50,
    "aenergy": {"total": 0.0, "by_minute": [0.0, 0.0, 0.0], "minute_ts": 1700000000},
}


@pytest.mark.parametrize(
    ("topic", "status", "meter", "kw"),
    [
        ("shellyplusplugs-a8032ab1/status/switch:0", SWITCH_STATUS, "shellyplusplugs-a8032ab1.switch-0", 0.0089),
        ("shellypro3em-c8f09e8d/status/em:0", EM_STATUS, "shellypro3em-c8f09e8d", 0.71551),
        ("shellyproem50-08f9e0e5/status/em1:0", EM1_STATUS, "shellyproem50-08f9e0e5.em1-0", 0.4715),
        ("shellypmmini-543204a1/status/pm1:0", PM1_STATUS, "shellypmmini-543204a1.pm1-0", 0.0723),
    ],
    ids=["switch", "em", "em1", "pm1"],
)
def test_a_shelly_gen2_status_topic_is_read_as_its_components_power(topic, status, meter, kw):
    intake = intake_for("shelly-gen2-status")
    readings = readings_of(intake, [(dt, topic, json.dumps(status)) for dt in (0, 30, 70)])
    assert by_meter(readings) == {meter: [(0, kw, False)]}
    assert intake.snapshot()["shelly-gen2-status"]["rejected"] == {}


def test_a_shelly_gen2_status_topic_without_power_is_counted_not_a_meter():
    intake = intake_for("shelly-gen2-status")
    sys_status = {"mac": "A8032AB12345", "restart_required": False, "time": "11:00", "uptime": 3600}
    readings_of(intake, [(0, "shellyplusplugs-a8032ab1/status/sys", json.dumps(sys_status))])
    assert intake.snapshot()["shelly-gen2-status"]["rejected"] == {"no_power": 1}


def test_a_shelly_gen2_status_topic_declared_with_a_fixed_meter_keeps_the_component_level():
    intake = intake_for({"profile": "shelly-gen2-status", "topic": "shellyplusplugs-a8032ab1/status/+", "meter": "tv"})
    readings = readings_of(
        intake, [(dt, "shellyplusplugs-a8032ab1/status/switch:0", json.dumps(SWITCH_STATUS)) for dt in (0, 70)]
    )
    assert by_meter(readings) == {"tv.switch-0": [(0, 0.0089, False)]}


# --- case 5: channels kept apart ---------------------------------------------------------------------------------


def test_a_shelly_em_gen1_grid_clamp_and_pv_clamp_are_two_meters_not_their_sum():
    """Shelly EM (Gen1 MQTT API, shellies/<id>/emeter/<i>/power: "instantaneous power in Watts", one per clamp):
    channel 0 on the grid, channel 1 on the PV inverter. Their sum (2.34 kW) is no household's power."""
    intake = intake_for("shelly-gen1")
    messages = []
    for dt in (0, 30, 70):
        messages += [
            (dt, "shellies/shellyem-B9E0AA/emeter/0/power", "1840.50"),
            (dt, "shellies/shellyem-B9E0AA/emeter/1/power", "500.00"),
        ]
    assert by_meter(readings_of(intake, messages)) == {
        "shellyem-B9E0AA.0": [(0, 1.8405, False)],
        "shellyem-B9E0AA.1": [(0, 0.5, False)],
    }


def test_a_shelly_3em_gen1_is_one_meter_its_three_phases_summed():
    """Shelly 3EM (Gen1, default id shellyem3-<mac>): emeter/0..2 are the phases of one supply."""
    intake = intake_for("shelly-gen1")
    messages = [
        (dt, f"shellies/shellyem3-C45BBE/emeter/{i}/power", f"{w:.2f}")
        for dt in (0, 70)
        for i, w in enumerate((100, 250, 650))
    ]
    assert by_meter(readings_of(intake, messages)) == {"shellyem3-C45BBE": [(0, 1.0, False)]}


def test_a_source_may_say_its_channels_are_one_meter():
    intake = intake_for({"profile": "shelly-gen1", "channels": "sum"})
    messages = [(dt, f"shellies/house/emeter/{i}/power", "600") for dt in (0, 70) for i in (0, 1)]
    assert by_meter(readings_of(intake, messages)) == {"house": [(0, 1.2, False)]}


def test_a_shelly_pro_em_gen2_em1_channels_are_two_meters():
    """Pro EM's NotifyStatus with both em1 channels (Gen2 docs: EM1 component, act_power W per channel)."""
    intake = intake_for("shelly-gen2")
    messages = []
    for dt in (0, 30, 70):
        body = {
            "src": "shellyproem50-08f9e0e5",
            "dst": "shellyproem50-08f9e0e5/events",
            "method": "NotifyStatus",
            "params": {"ts": T0 + dt, "em1:0": {"id": 0, "act_power": 1840.5}, "em1:1": {"id": 1, "act_power": -500.0}},
        }
        messages.append((dt, "shellyproem50-08f9e0e5/events/rpc", json.dumps(body)))
    readings = readings_of(intake, messages)
    assert by_meter(readings) == {
        "shellyproem50-08f9e0e5.em1-0": [(0, 1.8405, False)],
        "shellyproem50-08f9e0e5.em1-1": [(0, 0.0, False)],  # exporting: clipped to 0, counted
    }
    assert intake.snapshot()["shelly-gen2"]["negative_clipped"] == 3


def test_a_shelly_pro_3em_gen2_em0_still_sums_its_phases_into_one_meter():
    intake = intake_for("shelly-gen2")
    messages = []
    for dt in (0, 70):
        phases = {"id": 0, "a_act_power": 951.2, "b_act_power": 200.0, "c_act_power": 715.4}
        body = {"method": "NotifyStatus", "params": {"ts": T0 + dt, "em:0": phases}}
        messages.append((dt, "shellypro3em-c8f09e8d/events/rpc", json.dumps(body)))
    assert by_meter(readings_of(intake, messages)) == {"shellypro3em-c8f09e8d": [(0, 1.8666, False)]}


def tasmota_channels(wall: str, powers: list[float]) -> bytes:
    """A two-channel Tasmota (e.g. a Shelly 2.5 on Tasmota): ``"Power": [a, b]``, one entry per channel
    (xdrv_03_energy's ``EnergyFormat`` of a multi-channel device)."""
    return json.dumps({"Time": wall, "ENERGY": {"Power": powers, "Voltage": [231, 231]}}).encode()


def two_minutes_of_two_channels(intake: SourceIntake) -> list[Reading]:
    """A two-channel Tasmota at 120 W and 45 W, sampled at 11:00:00 and 11:01:10 (the second closes minute one)."""
    readings = []
    for dt in (0, 70):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        readings += intake.read("tele/shelly25/SENSOR", tasmota_channels(wall, [120, 45]), T0 + dt)
    return readings


def test_a_tasmota_array_channel_may_be_chosen_by_its_index():
    intake = intake_for({"profile": "tasmota", "field": "ENERGY.Power.1"})
    readings = two_minutes_of_two_channels(intake)
    assert by_meter(readings) == {"shelly25": [(0, 0.045, False)]}


def test_a_tasmota_arrays_channels_may_be_kept_apart():
    intake = intake_for({"profile": "tasmota", "channels": "apart"})
    readings = two_minutes_of_two_channels(intake)
    assert by_meter(readings) == {"shelly25.0": [(0, 0.12, False)], "shelly25.1": [(0, 0.045, False)]}


def test_channels_must_be_sum_or_apart():
    with pytest.raises(ValueError, match="channels must be one of"):
        intake_for({"profile": "tasmota", "channels": "both"})


# --- case 8: the default topics reach the common devices; nothing on them goes uncounted -------------------------


@pytest.mark.parametrize(
    ("topic", "meter"),
    [
        ("shellies/shellyplug-s-7A3F2E/relay/0/power", "shellyplug-s-7A3F2E.relay-0"),  # Plug S
        ("shellies/shelly1pm-84CCA8/relay/0/power", "shelly1pm-84CCA8.relay-0"),  # 1PM
        ("shellies/shellyswitch25-C45BBE/relay/1/power", "shellyswitch25-C45BBE.relay-1"),  # 2.5, second relay
    ],
    ids=["plug-s", "1pm", "2.5"],
)
def test_shelly_gen1_relay_power_is_read_on_the_default_topic(topic, meter):
    """Shelly Gen1 MQTT API: ``shellies/<id>/relay/<i>/power``, "instantaneous power consumption rate in Watts"
    (Plug, Plug S, 1PM, 2.5); the default subscription is ``shellies/+/+/+/power``."""
    intake = intake_for("shelly-gen1")
    assert by_meter(readings_of(intake, [(0, topic, "42.17"), (70, topic, "42.17")])) == {meter: [(0, 0.04217, False)]}


def test_an_esphome_power_sensor_not_named_power_is_read_by_declaring_its_name():
    """ESPHome publishes ``<node>/sensor/<object_id>/state`` (mqtt_sensor.cpp, get_default_topic_for_("state")):
    a sensor named "House Power" is ``house_power``."""
    intake = intake_for({"profile": "esphome", "unit": "W", "field": "house_power"})
    assert intake.subscriptions() == ["+/sensor/house_power/state"]
    readings = readings_of(intake, [(dt, "garage-node/sensor/house_power/state", "523.4") for dt in (0, 70)])
    assert by_meter(readings) == {"garage-node": [(0, 0.5234, False)]}


def test_an_esphome_sensor_other_than_the_chosen_one_on_a_wide_topic_is_counted_as_not_power():
    intake = intake_for({"profile": "esphome", "unit": "W", "field": "house_power", "topic": "+/sensor/+/state"})
    readings_of(intake, [(0, "garage-node/sensor/temperature/state", "21.5")])
    assert intake.snapshot()["esphome"]["rejected"] == {"not_power": 1}


def test_zigbee2mqtt_names_with_a_slash_are_meters_and_its_own_topics_are_counted_never_meters(caplog):
    """Zigbee2MQTT publishes ``zigbee2mqtt/<friendly_name>`` where the name may hold ``/`` (its groups-by-path
    convention, e.g. ``kitchen/plug``), and on the same tree ``bridge/state``, ``bridge/logging``, and
    ``<name>/availability`` (zigbee2mqtt.io MQTT topics and messages); ``<name>/set`` and ``/get`` are commands."""
    caplog.set_level(logging.WARNING)
    intake = intake_for("zigbee2mqtt")
    assert intake.subscriptions() == ["zigbee2mqtt/#"]
    plug = json.dumps({"state": "ON", "power": 120, "energy": 1.23, "linkquality": 120})
    readings = readings_of(
        intake,
        [
            (0, "zigbee2mqtt/kitchen/plug", plug),
            (1, "zigbee2mqtt/bridge/state", '{"state":"online"}'),
            (2, "zigbee2mqtt/bridge/logging", '{"level":"info","message":"MQTT publish"}'),
            (3, "zigbee2mqtt/kitchen/plug/availability", '{"state":"online"}'),
            (4, "zigbee2mqtt/kitchen/plug/set", '{"state":"OFF"}'),
            (5, "zigbee2mqtt/garage/plug/get", '{"state":""}'),
            (70, "zigbee2mqtt/kitchen/plug", plug),
        ],
    )
    assert by_meter(readings) == {"kitchen.plug": [(0, 0.12, False)]}
    counts = intake.snapshot()["zigbee2mqtt"]
    assert counts["rejected"] == {"not_a_reading": 5} and counts["messages"] == 7
    named = [r.getMessage() for r in caplog.records if "(not_a_reading)" in r.getMessage()]
    for meter in ("bridge", "kitchen.plug", "garage.plug"):  # every meter named, not only the first in 10 s
        assert any(f"from meter {meter} on" in line for line in named), meter


def test_emontx4_inputs_p1_to_p6_are_each_a_meter_and_other_inputs_are_counted_as_not_power():
    """emonhub's nodevar format (conf/interfacer_examples/MQTT/readme.md: ``topic: basetopic/emontx/power1,
    payload: 100``); an emonTx4/emonPi2 names its inputs ``P1``..``P6``, ``E1``..``E6``, ``V1``, ``T1``, ``MSG``."""
    intake = intake_for("emonhub")
    messages = []
    for dt in (0, 70):
        messages += [(dt, "emon/emontx4/P1", "1245"), (dt, "emon/emontx4/P2", "310"), (dt, "emon/emontx4/E1", "12345")]
        messages += [(dt, "emon/emontx4/V1", "240.1")]
    assert by_meter(readings_of(intake, messages)) == {
        "emontx4.P1": [(0, 1.245, False)],
        "emontx4.P2": [(0, 0.31, False)],
    }
    assert intake.snapshot()["emonhub"]["rejected"] == {"not_power": 4}


def test_emonhub_json_format_is_read_with_its_time_each_power_input_a_meter():
    """emonhub's JSON format (same readme: ``topic: basetopic/<nodeid>``, ``payload: {"key1":value1, ...
    "time":<timestamp>, "rssi":<rssi>}``, the time Unix seconds)."""
    intake = intake_for("emonhub")
    assert intake.subscriptions() == ["emon/+/+", "emon/+"]
    messages = []
    for dt in (0, 30, 70):
        body = {"MSG": 12 + dt, "V1": 240.1, "P1": 1245, "P2": 310, "E1": 12345, "T1": 21.5, "time": T0 + dt}
        messages.append((dt + 2, "emon/emontx4", json.dumps(body)))  # arrives 2 s after its time
    assert by_meter(readings_of(intake, messages)) == {
        "emontx4.P1": [(0, 1.245, False)],
        "emontx4.P2": [(0, 0.31, False)],
    }


def test_one_emonhub_input_may_be_chosen_as_the_nodes_power():
    intake = intake_for({"profile": "emonhub", "field": "P1"})
    messages = [(dt, "emon/emontx4/P1", "1245") for dt in (0, 70)] + [(71, "emon/emontx4/P2", "310")]
    assert by_meter(readings_of(intake, messages)) == {"emontx4": [(0, 1.245, False)]}


# --- case 6: a source that reports on change ---------------------------------------------------------------------


def steady_then_silent(intake: SourceIntake, topic: str, silent_minutes: int, ticks_to: int) -> list[Reading]:
    """One "500" at 00:05 of minute 0, the agent's clock ticking every 10 s, the next "500" after ``silent_minutes``
    whole minutes without a message, then ticks up to minute ``ticks_to``."""
    readings = intake.read(topic, b"500", T0 + 5)
    back = T0 + 5 + (silent_minutes + 1) * 60
    for t in range(int(T0) + 10, int(T0) + ticks_to * 60, 10):
        if t - 10 < back <= t:
            readings += intake.read(topic, b"500", back)
        readings += intake.tick(float(t))
    return readings


def test_a_steady_on_change_source_silent_for_50_minutes_gives_50_real_minutes_and_forecasts_go_on(assets):
    """Home Assistant's mqtt_statestream publishes a state only when it changes (home-assistant.io/integrations/
    mqtt_statestream: "publishes ... when the state changes"): a steady 500 W sends nothing for 50 minutes."""
    from device.forecasting.forecaster import Forecaster
    from device.models.load import load_models

    intake = intake_for("statestream:W")
    readings = steady_then_silent(intake, "homeassistant/sensor/house_power/state", 50, ticks_to=53)
    assert minutes_of(readings) == [(m, 0.5, False) for m in range(52)]  # 0, the 50 silent ones, 51
    counts = intake.snapshot()["statestream"]
    assert (counts["held_minutes"], counts["filled_minutes"]) == (50, 0)
    steps = Forecaster(load_models(assets, ("linreg", "persistence")), 15).process_batch(readings)
    assert all(not s.update.reset for s in steps)
    forecast_minutes = {p.minute - MINUTE0 for s in steps for p in s.predictions}
    assert forecast_minutes == set(range(1, 52))  # every minute from the second on, none skipped
    assert not any(p.from_filled for s in steps for p in s.predictions)


def test_past_its_hold_limit_an_on_change_meter_goes_quiet_neither_filled_nor_reset_again_and_again():
    intake = intake_for({"profile": "statestream", "unit": "W", "hold_minutes": 20})
    readings = steady_then_silent(intake, "homeassistant/sensor/house_power/state", 30, ticks_to=34)
    assert minutes_of(readings) == [(m, 0.5, False) for m in range(21)] + [(31, 0.5, False), (32, 0.5, False)]
    counts = intake.snapshot()["statestream"]
    assert (counts["held_minutes"], counts["filled_minutes"]) == (20 + 1, 0)  # minute 32 holds minute 31's value


def test_a_periodic_source_may_be_declared_on_change_and_an_on_change_one_periodic():
    assert Source.parse({"profile": "esphome", "unit": "W", "hold_minutes": 30}).hold_minutes == 30
    intake = intake_for({"profile": "statestream", "unit": "W", "hold_minutes": 0})
    readings = steady_then_silent(intake, "homeassistant/sensor/house_power/state", 20, ticks_to=22)
    assert [held for *_, held in minutes_of(readings)][:16] == [False] + [True] * 15  # filled, as a periodic source
    assert intake.snapshot()["statestream"]["held_minutes"] == 0


# --- case 4: statestream takes power sensors only, in their own unit, and never the agent's own entities ---------


def statestream_sensor(object_id: str, state: str, unit: str | None, device_class: str | None, dt: float = 0) -> list:
    """What HA's mqtt_statestream publishes for one state change with ``publish_attributes: true``
    (homeassistant/components/mqtt_statestream/__init__.py, HA Core 2025.4: ``<base>/sensor/<object_id>/state`` the
    raw state, then each attribute ``json.dumps``-encoded on ``<base>/sensor/<object_id>/<attribute>``, all with
    retain set). The test feeds the attributes first, as a broker's retained store does at subscribe time."""
    base = f"homeassistant/sensor/{object_id}/"
    attributes = {"unit_of_measurement": unit, "device_class": device_class}  # the two the source subscribes to
    return [(dt, base + k, json.dumps(v)) for k, v in attributes.items() if v is not None] + [
        (dt, base + "state", state)
    ]


def test_statestream_needs_no_declared_unit_a_power_sensor_says_its_own_w_or_kw():
    intake = intake_for("statestream")
    messages = []
    for dt in (0, 70):
        messages += statestream_sensor("house_power", "523", "W", "power", dt)
        messages += statestream_sensor("grid_power", "0.523", "kW", "power", dt)  # 0.523 kW, not 0.000523
    assert by_meter(readings_of(intake, messages)) == {
        "house_power": [(0, 0.523, False)],
        "grid_power": [(0, 0.523, False)],
    }
    counts = intake.snapshot()["statestream"]
    assert counts["rejected"] == {} and counts["metadata"] == 8  # unit and class of two sensors, twice


def test_statestream_temperature_and_battery_sensors_are_counted_as_not_power_never_meters():
    intake = intake_for("statestream:W")  # even with a declared unit: the sensor's own attributes say what it is
    messages = []
    for dt in (0, 70):
        messages += statestream_sensor("living_room_temperature", "21.5", "°C", "temperature", dt)
        messages += statestream_sensor("phone_battery", "87", "%", "battery", dt)
        messages += statestream_sensor("house_energy", "1234.5", "kWh", "energy", dt)
    assert readings_of(intake, messages) == [] and intake.tick(T0 + 3600) == []
    assert intake.snapshot()["statestream"]["rejected"] == {"not_power": 6}


def test_statestream_attributes_are_learnt_even_retained_the_state_is_not():
    intake = intake_for("statestream")
    for dt, topic, payload in statestream_sensor("house_power", "523", "W", "power"):
        intake.read(topic, payload.encode(), T0 + dt, retained=True)  # HA retains all of them
    readings = readings_of(intake, [(dt, "homeassistant/sensor/house_power/state", "400") for dt in (10, 70)])
    assert by_meter(readings) == {"house_power": [(0, 0.4, False)]}
    assert intake.snapshot()["statestream"]["rejected"] == {"retained": 1}


def test_a_statestream_state_before_its_unit_is_known_is_counted_as_no_unit():
    intake = intake_for("statestream")
    readings_of(intake, [(0, "homeassistant/sensor/house_power/state", "523")])
    assert intake.snapshot()["statestream"]["rejected"] == {"no_unit": 1}


def test_the_agents_own_forecast_entity_mirrored_back_by_statestream_is_refused_and_counted():
    """The agent's Home Assistant entity (unique_id/object_id ``wattcast_<agent>_<...>``, device_class power, kW)
    streamed back by statestream: once a meter it was forecast and announced again, in a loop."""
    intake = intake_for("statestream")
    own = "wattcast_pi01_house_power_linreg_forecast"
    assert readings_of(intake, statestream_sensor(own, "0.523", "kW", "power") * 2) == []
    counts = intake.snapshot()["statestream"]
    assert counts["rejected"] == {"own_output": 6} and counts["samples"] == 0


def test_the_agent_never_reads_its_own_topics_even_under_a_wide_subscription():
    from device.agent import Agent
    from device.config import AgentConfig

    config = AgentConfig(agent_id="pi01")
    wide = ({"profile": "zigbee2mqtt", "topic": "#"},)
    intake = SourceIntake(tuple(map(Source.parse, wide)), PARIS, DEFAULT_LIMITS, own_topics=Agent.own_topics(config))
    forecast = {"meter": "kitchen_plug", "model": "linreg", "ts": "2026-11-20T10:00:00", "power": 0.5}
    discovery = {"device_class": "power", "unit_of_measurement": "kW", "state_topic": "devices/pi01/meters/x/state"}
    for dt in (0, 70):
        intake.read("devices/pi01/prediction", json.dumps(forecast).encode(), T0 + dt)
        intake.read("homeassistant/sensor/pi01/kitchen_plug_linreg/config", json.dumps(discovery).encode(), T0 + dt)
    assert intake.snapshot()["zigbee2mqtt"]["rejected"] == {"own_output": 4}
