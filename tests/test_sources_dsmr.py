"""DSMR-reader's JSON telegram (``dsmr/json``) read as DSMR-reader publishes it: the house's power is delivered minus
returned (a house with solar panels exports), at the telegram's own time, not the time it reaches the agent.

What DSMR-reader publishes (dsmrreader/dsmr-reader, read at 47d8f1c of 2024-03-24):
- dsmr_mqtt/models/settings/telegram.py, ``JSONTelegramMQTTSettings``: default topic ``dsmr/json``; the default
  mapping keeps each field's name (``timestamp``, ``electricity_currently_delivered``,
  ``electricity_currently_returned``, ...); ``use_local_timezone`` off by default (UTC).
- dsmr_mqtt/services/callbacks.py, ``publish_json_data``: ``json.dumps(..., cls=DjangoJSONEncoder)``, which writes a
  Decimal as a string and a datetime as ISO, ``+00:00`` as ``Z``, microseconds cut to milliseconds
  (django/core/serializers/json.py); its API docs show the same reading as ``"electricity_currently_delivered":
  "1.500"``, ``"electricity_currently_returned": "0.025"``.
- dsmr_mqtt/tests/services/test_telegram.py: ``"2018-01-01T00:00:00Z"``, and ``"2018-01-01T01:00:00+01:00"`` with
  ``use_local_timezone``; plain numbers where the reading holds ints (``payload["ggg"] == 5``).
- dsmr_datalogger/models/reading.py: both powers "in kW" and NOT NULL, filled from OBIS 1-0:1.7.0 and 1-0:2.7.0
  (dsmr_datalogger/services/datalogger.py), which every DSMR telegram carries, ``00.000`` on an import-only meter:
  DSMR-reader never leaves ``electricity_currently_returned`` out, so a telegram without it is refused, not read as 0.
- dsmr_mqtt/services/messages.py: messages wait in a database queue before the broker, so they can arrive late and
  in bursts; the telegram's ``timestamp`` ("when the reading was taken, according to the smart meter") places them.
- dsmrreader/dsmr-reader#1873: a meter reporting both at once (0.097 kW delivered, 0.005 kW returned).
"""

from __future__ import annotations

import json

import pytest

from device.clock import HouseholdTime
from device.readings import DEFAULT_LIMITS
from device.sources.intake import SourceIntake
from device.sources.reader import Source, SourceReader
from tests.sources_examples import T0, dsmr_json

PARIS = HouseholdTime("Europe/Paris")
TOPIC = "dsmr/json"


def decode(body: dict, arrival_s: float = T0):
    meter, sample = SourceReader.build(Source("dsmr-reader"), PARIS, DEFAULT_LIMITS).decode(
        TOPIC, json.dumps(body).encode(), arrival_s
    )
    assert meter == "dsmr"
    return sample


def test_an_import_only_telegram_is_its_delivered_power_at_the_telegrams_own_time():
    sample = decode(dsmr_json(T0, "0.523", "0.000"), arrival_s=T0 + 40)  # 40 s in DSMR-reader's queue
    assert (sample.kw, sample.t_s) == (pytest.approx(0.523), T0)


def test_an_exporting_telegram_is_negative_net_power():
    assert decode(dsmr_json(T0, "0.000", "1.644")).kw == pytest.approx(-1.644)


def test_power_delivered_and_returned_in_one_telegram_are_netted():
    assert decode(dsmr_json(T0, "0.097", "0.005")).kw == pytest.approx(0.092)


def test_plain_numbers_are_read_like_decimal_strings():
    assert decode(dsmr_json(T0, 5, 6)).kw == pytest.approx(-1.0)


@pytest.mark.parametrize("stamp", ["2026-11-20T11:00:00.990+01:00", "2026-11-20T10:00:00.990Z"])
def test_a_local_offset_or_z_with_milliseconds_is_honoured(stamp):
    assert decode(dsmr_json(T0, "0.5", "0.0") | {"timestamp": stamp}).t_s == pytest.approx(T0 + 0.99, abs=1e-6)


def test_a_telegram_whose_mapping_leaves_out_the_timestamp_takes_its_arrival_time():
    body = dsmr_json(T0, "0.5", "0.0")
    del body["timestamp"]
    assert decode(body, arrival_s=T0 + 40).t_s == T0 + 40


def without(key: str) -> bytes:
    body = dsmr_json(T0, "0.5", "0.0")
    del body[key]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (without("electricity_currently_returned"), "no_returned"),  # never sent as 0 by omission: refused
        (without("electricity_currently_delivered"), "no_power"),
        (json.dumps(dsmr_json(T0, "0.5", "0.0")).encode()[:-1], "not_json"),
        (b'["2018-01-01T00:00:00Z", "0.5"]', "not_an_object"),
        (json.dumps(dsmr_json(T0, "0.5", "n/a")).encode(), "bad_value"),
        (json.dumps(dsmr_json(T0, "0.5", "0.0") | {"timestamp": "yesterday"}).encode(), "bad_ts"),
    ],
    ids=["no_returned", "no_delivered", "truncated_json", "array", "not_a_number", "bad_timestamp"],
)
def test_a_telegram_that_cannot_be_read_is_rejected_and_counted_with_its_reason(payload, reason, caplog):
    intake = SourceIntake((Source("dsmr-reader"),), PARIS, DEFAULT_LIMITS)
    assert intake.read(TOPIC, payload, T0) == []
    counts = intake.snapshot()["dsmr-reader"]
    assert (counts["messages"], counts["samples"], counts["rejected"]) == (1, 0, {reason: 1})
    assert f"meter dsmr on {TOPIC} ({reason})" in caplog.text


def test_telegrams_flushed_late_in_one_burst_make_their_own_minutes_with_export_counted_and_clipped():
    """Every 10 s (a DSMR 4 meter): minute 0 draws 0.6 kW for 30 s then exports 0.4 kW (clipped to 0: the models
    know consumption only), minute 1 draws 1.2 kW; all arrive at once, 5 minutes late (the queue after an outage)."""
    drawn_exported = {0: ("0.600", "0.000"), 30: ("0.000", "0.400"), 60: ("1.200", "0.000"), 120: ("0.100", "0.000")}
    telegrams = [(T0 + s, *drawn_exported[max(k for k in drawn_exported if k <= s)]) for s in range(0, 140, 10)]
    intake = SourceIntake((Source("dsmr-reader"),), PARIS, DEFAULT_LIMITS, grace_s=5.0)
    readings = []
    for t, delivered, returned in telegrams:
        readings += intake.read(TOPIC, json.dumps(dsmr_json(t, delivered, returned)).encode(), arrival_s=T0 + 300)
    assert [(r.meter, r.minute - int(T0 // 60)) for r in readings] == [("dsmr", 0), ("dsmr", 1)]
    assert [r.values[0] for r in readings] == [pytest.approx(0.3), pytest.approx(1.2)]
    counts = intake.snapshot()["dsmr-reader"]
    assert (counts["samples"], counts["negative_clipped"], counts["late"]) == (len(telegrams), 3, 0)
