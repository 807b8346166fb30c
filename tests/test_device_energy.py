"""The energy model follows the README's formulas with the catalogue's device classes."""

from __future__ import annotations

import pytest

from device.contract import WindowSpec
from device.energy import (
    DEVICE_CLASSES,
    ESP32C3,
    M0PLUS,
    M4F,
    M33,
    PI4B,
    Battery,
    InferenceTime,
    energy,
    mcu_time,
    measured_cpu_time,
)
from device.models.entry import FirmwareMeasurement, M4Measurement
from device.models.families import family
from device.models.kinds import ModelKind


def lstm_entry(macs: int, m4: M4Measurement | None = None, targets: dict | None = None):
    return family(ModelKind.TFLITE).entry(name="lstm", window=WindowSpec(), macs=macs, m4=m4, targets=targets or {})


def test_pi_energy_is_cpu_time_times_the_active_minus_idle_power():
    figures = energy(PI4B, measured_cpu_time(100e-6))
    assert figures.uj_per_inference == pytest.approx(100e-6 * (6.12 - 3.06) * 1e6)
    assert figures.j_per_day == pytest.approx(1440 * 100e-6 * 3.06)
    assert figures.time_measured and figures.estimated


def test_a_pi_on_a_battery_is_limited_by_its_idle_draw():
    days = energy(PI4B, measured_cpu_time(100e-6), Battery(10_000, 5.0)).battery_days
    assert days == pytest.approx(10_000 * 3.6 * 5.0 / (3.06 * 86_400 + 1440 * 100e-6 * 3.06))


def test_mcu_energy_comes_from_macs_at_nine_cycles_each_without_a_firmware_measurement():
    figures = energy(M4F, mcu_time(lstm_entry(36_496)))
    t = 36_496 * 9 / 80e6
    assert figures.us_per_inference == pytest.approx(t * 1e6)  # ~4.1 ms
    assert figures.uj_per_inference == pytest.approx(t * 0.040 * 1e6)
    assert figures.duty_cycle == pytest.approx(1440 * t / 86_400)
    assert figures.battery_days == pytest.approx(2000 * 3.6 * 3.7 / (1440 * t * 0.040 + 10e-6 * (86_400 - 1440 * t)))
    assert "MACs × 9 cycles/MAC" in figures.time_basis and "estimated" in figures.time_basis


def test_mcu_energy_comes_from_the_firmware_s_measured_instructions_when_the_entry_has_them():
    entry = lstm_entry(36_496, M4Measurement(instructions=250_000, flash_bytes=9_000, ram_bytes=6_000))
    figures = energy(M4F, mcu_time(entry))
    assert figures.us_per_inference == pytest.approx(250_000 * 1.2 / 80e6 * 1e6)  # 3.75 ms
    assert figures.uj_per_inference == pytest.approx(250_000 * 1.2 / 80e6 * 0.040 * 1e6)
    assert "250,000 measured instructions × 1.2 cycles/instruction (assumed)" in figures.time_basis
    assert not figures.time_measured  # the instructions are measured, the cycles per instruction assumed


def test_a_model_without_macs_or_measurement_has_no_mcu_figure():
    assert mcu_time(family(ModelKind.PERSISTENCE).entry(name="persistence", window=WindowSpec())) is None


def test_the_firmware_measurement_survives_the_manifest_round_trip():
    entry = lstm_entry(10, M4Measurement(instructions=1_234, flash_bytes=5_000, ram_bytes=None))
    document = entry.to_dict()
    assert document["m4"] == {"instructions": 1_234, "flash_bytes": 5_000, "ram_bytes": None}
    assert type(entry).from_dict(document) == entry


def test_the_report_judges_at_least_an_m0plus_an_m4f_an_m33_and_an_esp32_c3_class_each_on_its_own_target():
    cores = {d.profile: (d.core.target, d.core.clock_hz) for d in DEVICE_CLASSES if d.core}
    assert cores == {
        "m0plus": ("cortex-m0", 133e6),  # RP2040
        "m4f": ("cortex-m4", 80e6),  # STM32L4
        "m33": ("cortex-m33", 128e6),  # nRF5340 application core
        "esp32c3": ("rv32imc", 160e6),
    }
    assert all(d.sources for d in DEVICE_CLASSES)


def test_mcu_time_is_the_targets_estimated_cycles_at_the_class_clock():
    m0 = FirmwareMeasurement(instructions=961_312, flash_bytes=6_346, ram_bytes=596, cycles=1_373_707)
    entry = lstm_entry(56_178, M4Measurement(instructions=297_360), targets={"cortex-m0": m0})
    time = mcu_time(entry, M0PLUS)
    assert time is not None and time.seconds == pytest.approx(1_373_707 / 133e6)
    assert "1,373,707 cycles on cortex-m0" in time.basis and not time.measured
    # the M4F class has only the old m4 record of this entry: its instructions at the assumed 1.2 cycles each
    assert mcu_time(entry, M4F).seconds == pytest.approx(297_360 * 1.2 / 80e6)
    # no record for the M33 target: the MACs' rule of thumb
    assert "MACs" in mcu_time(entry, M33).basis


def test_a_class_without_a_power_figure_gets_a_time_and_no_energy():
    figures = energy(ESP32C3, InferenceTime(1e-3, "given", False))
    assert figures.us_per_inference == pytest.approx(1000.0) and figures.duty_cycle == pytest.approx(1440e-3 / 86_400)
    assert (figures.uj_per_inference, figures.j_per_day, figures.battery_days) == (None, None, None)
    with pytest.raises(ValueError, match="no power figure"):
        _ = ESP32C3.inference_w
    assert "power not given" in ESP32C3.describe()


def test_per_target_figures_survive_the_manifest_round_trip_and_an_old_entry_without_them_loads():
    m33 = FirmwareMeasurement(
        instructions=297_950, flash_bytes=5_722, ram_bytes=536, cycles=447_083, cycle_timings="the M4's table"
    )
    entry = lstm_entry(10, targets={"cortex-m33": m33})
    document = entry.to_dict()
    assert document["targets"]["cortex-m33"]["cycles"] == 447_083
    assert type(entry).from_dict(document) == entry
    old = {k: v for k, v in document.items() if k != "targets"}
    assert type(entry).from_dict(old).targets == {} and type(entry).from_dict(old).on_target("cortex-m33") is None
