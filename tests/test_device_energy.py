"""The energy proxies follow the README's formulas with the stated device profiles."""

from __future__ import annotations

import pytest

from device.energy import Battery, McuProfile, PiProfile, mcu_energy, pi_energy


def test_pi_energy_is_cpu_time_times_the_active_minus_idle_power():
    figures = pi_energy(100e-6)
    assert figures["pi4b_uj_per_inference"]["value"] == pytest.approx(100e-6 * (6.12 - 3.06) * 1e6)
    assert figures["pi4b_j_per_day"]["value"] == pytest.approx(1440 * 100e-6 * 3.06)
    assert figures["pi4b_cpu_us_per_inference"]["basis"] == "measured"
    assert figures["pi4b_uj_per_inference"]["basis"] == "estimated"


def test_a_pi_on_a_battery_is_limited_by_its_idle_draw():
    days = pi_energy(100e-6, PiProfile(), Battery(10_000, 5.0))["pi4b_battery_days"]["value"]
    assert days == pytest.approx(10_000 * 3.6 * 5.0 / (3.06 * 86_400 + 1440 * 100e-6 * 3.06))


def test_mcu_energy_comes_from_macs_at_nine_cycles_each():
    figures = mcu_energy(36_496, McuProfile(clock_hz=80e6, cycles_per_mac=9, active_w=0.040))
    t = 36_496 * 9 / 80e6
    assert figures["m4f_us_per_inference"]["value"] == pytest.approx(t * 1e6)  # ~4.1 ms
    assert figures["m4f_uj_per_inference"]["value"] == pytest.approx(t * 0.040 * 1e6)
    assert figures["m4f_duty_cycle"]["value"] == pytest.approx(1440 * t / 86_400)
    assert all(f["basis"] == "estimated" for f in figures.values())
