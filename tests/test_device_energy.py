"""The energy model follows the README's formulas with the catalogue's device classes."""

from __future__ import annotations

import pytest

from device.contract import WindowSpec
from device.energy import M4F, PI4B, Battery, energy, mcu_time, measured_cpu_time
from device.models.entry import M4Measurement
from device.models.families import family
from device.models.kinds import ModelKind


def lstm_entry(macs: int, m4: M4Measurement | None = None):
    return family(ModelKind.TFLITE).entry(name="lstm", window=WindowSpec(), macs=macs, m4=m4)


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
