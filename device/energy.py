"""Energy proxies per inference, per day and on a battery, for a Raspberry Pi 4B and a Cortex-M4F class MCU.

Nothing here is metered: the Pi figures multiply a *measured* CPU time by the Pi's published power draw, and the MCU
figures come from the manifest's MAC count with ST's rule of thumb. Every figure says which it is.
Formulas (also in device/README.md):

- Pi:  E_inf = t_cpu × (P_active − P_idle);   E_day = 1440 × E_inf;
       battery days = C / (P_idle × 86 400 s + E_day)  (the Pi never sleeps: its idle draw dominates)
- MCU: t_inf = MACs × cycles_per_MAC / f_clk;  E_inf = t_inf × P_active;  E_day = 1440 × E_inf;
       duty = 1440 × t_inf / 86 400 s;  battery days = C / (E_day + P_sleep × (86 400 s − 1440 × t_inf))
  with C = capacity_mAh × 3.6 × V_battery joules.
"""

from __future__ import annotations

from dataclasses import dataclass

PREDICTIONS_PER_DAY = 24 * 60  # one prediction a minute
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class PiProfile:
    """Raspberry Pi 4B: Raspberry Pi's figures, 0.6 A idle and 1.2 A under stress at 5.1 V."""

    idle_w: float = 0.6 * 5.1
    active_w: float = 1.2 * 5.1


@dataclass(frozen=True)
class McuProfile:
    """A Cortex-M4F class MCU (e.g. STM32L4 at 80 MHz): ~9 cycles per MAC for a small int8 LSTM (ST's rule of
    thumb), ~40 mW running, a few µW asleep."""

    clock_hz: float = 80e6
    cycles_per_mac: float = 9.0
    active_w: float = 0.040
    sleep_w: float = 10e-6


@dataclass(frozen=True)
class Battery:
    capacity_mah: float = 2000.0
    voltage: float = 3.7

    @property
    def joules(self) -> float:
        return self.capacity_mah * 3.6 * self.voltage


def _figure(value: float, unit: str, basis: str, formula: str) -> dict:
    return {"value": value, "unit": unit, "basis": basis, "formula": formula}


def pi_energy(cpu_s_per_inference: float, pi: PiProfile = PiProfile(), battery: Battery = Battery()) -> dict:
    """Pi 4B energy from a measured CPU time per inference."""
    e_inf = cpu_s_per_inference * (pi.active_w - pi.idle_w)
    e_day = PREDICTIONS_PER_DAY * e_inf
    days = battery.joules / (pi.idle_w * SECONDS_PER_DAY + e_day)
    return {
        "pi4b_cpu_us_per_inference": _figure(cpu_s_per_inference * 1e6, "us", "measured", "thread CPU time, median"),
        "pi4b_uj_per_inference": _figure(e_inf * 1e6, "uJ", "estimated", "t_cpu * (P_active - P_idle)"),
        "pi4b_j_per_day": _figure(e_day, "J", "estimated", "1440 * E_inf"),
        "pi4b_battery_days": _figure(days, "days", "estimated",
                                     f"{battery.capacity_mah:g} mAh at {battery.voltage:g} V / (P_idle * 1 day + E_day)"),
    }


def mcu_energy(macs: int, mcu: McuProfile = McuProfile(), battery: Battery = Battery()) -> dict:
    """Cortex-M4F energy estimated from the MAC count alone."""
    t_inf = macs * mcu.cycles_per_mac / mcu.clock_hz
    e_inf = t_inf * mcu.active_w
    e_day = PREDICTIONS_PER_DAY * e_inf
    busy_s = PREDICTIONS_PER_DAY * t_inf
    days = battery.joules / (e_day + mcu.sleep_w * (SECONDS_PER_DAY - busy_s))
    return {
        "m4f_us_per_inference": _figure(t_inf * 1e6, "us", "estimated", "MACs * cycles_per_MAC / f_clk"),
        "m4f_uj_per_inference": _figure(e_inf * 1e6, "uJ", "estimated", "t_inf * P_active"),
        "m4f_j_per_day": _figure(e_day, "J", "estimated", "1440 * E_inf"),
        "m4f_duty_cycle": _figure(busy_s / SECONDS_PER_DAY, "fraction", "estimated", "1440 * t_inf / 1 day"),
        "m4f_battery_days": _figure(days, "days", "estimated", f"{battery.capacity_mah:g} mAh at {battery.voltage:g} "
                                    "V / (E_day + P_sleep * idle time)"),
    }
