"""The report's numbers carry a unit that fits them: three significant figures, never a raw 2074756 µs."""

from __future__ import annotations

import pytest

from simulator.units import count, duration_us, energy_uj, significant, size_bytes


@pytest.mark.parametrize(
    "us, shown",
    [
        (0.0, "0 µs"),
        (0.592, "0.592 µs"),
        (161.8, "162 µs"),
        (1397.8, "1.40 ms"),
        (2_074_756, "2.07 s"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_durations(us, shown):
    assert duration_us(us) == shown


@pytest.mark.parametrize(
    "size, shown", [(0, "0 B"), (512, "512 B"), (7_184, "7.02 KiB"), (219_624, "214 KiB"), (83_869_696, "80.0 MiB")]
)
def test_sizes(size, shown):
    assert size_bytes(size) == shown


@pytest.mark.parametrize("uj, shown", [(0.135, "135 nJ"), (613.2, "613 µJ"), (3_710.0, "3.71 mJ"), (5.34e6, "5.34 J")])
def test_energies(uj, shown):
    assert energy_uj(uj) == shown


def test_large_values_keep_three_figures_without_an_exponent():
    assert (significant(30_812.0), significant(0.000194), count(10_074)) == ("30,800", "0.000194", "10,074")
