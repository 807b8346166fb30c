"""``python -m convert.quantize --mcu-model ... --add``: the search's candidate joins the committed assets, which stay
byte for byte, with the least squares on the same inputs beside it (bundled slice, one epoch: fast, not accurate)."""

import shutil
from pathlib import Path

import pytest

from convert.config import QuantizeConfig
from convert.quantize import build_parser, quantize
from device.models.manifest import load_manifest, sha256_of

pytestmark = pytest.mark.slow  # trains a search candidate and converts it

COMMITTED = Path(__file__).resolve().parents[1] / "firmware_assets"
CALENDAR_AND_SUBMETERS = ("gap", "hour_sin", "hour_cos", "sm1", "sm2", "sm3")
#: What an additive run writes (again, if the committed assets already hold it).
REPLACED = ("mcu_lstm_int8", "linreg_cal")


@pytest.fixture(scope="module")
def added(tmp_path_factory, search_dir):
    """(assets before, assets after) of an additive run over a copy of the committed assets."""
    root = tmp_path_factory.mktemp("assets")
    before, after = root / "before", root / "after"
    shutil.copytree(COMMITTED, before)
    shutil.copytree(COMMITTED, after)
    quantize(QuantizeConfig(out=after, mcu_model=search_dir / "models" / "res8_hour_sm", add=True, tflm=False))
    return before, after


def test_every_other_entry_and_file_of_the_existing_manifest_is_kept_byte_for_byte(added):
    before, after = added
    old, new = load_manifest(before), load_manifest(after)
    others = {n: e.to_dict() for n, e in old.models.items() if n not in REPLACED}
    assert others and {n: e.to_dict() for n, e in new.models.items() if n in others} == others
    for name in set(old.files) - {f for f in old.files if f.startswith(REPLACED)}:
        assert new.files[name] == old.files[name]
        assert (after / name).read_bytes() == (before / name).read_bytes()


def test_the_hash_and_size_of_every_listed_file_match_the_disk(added):
    _, after = added
    manifest = load_manifest(after)
    for name, described in manifest.files.items():
        assert described == {"bytes": (after / name).stat().st_size, "sha256": sha256_of(after / name)}


def test_the_mcu_model_and_its_least_squares_twin_are_added_on_the_same_six_inputs(added):
    _, after = added
    models = load_manifest(after).models
    mcu, twin = models["mcu_lstm_int8"], models["linreg_cal"]
    assert (mcu.kind, mcu.file, mcu.parameters, mcu.macs) == ("tflite", "mcu_lstm_int8.tflite", 489, 13_448)
    assert (mcu.input.dtype, mcu.output.dtype) == ("int8", "int8")
    assert (twin.kind, twin.file, twin.parameters) == ("linreg", "linreg_cal.json", 30 * 6 + 1)
    assert mcu.window.features == twin.window.features == CALENDAR_AND_SUBMETERS
    assert mcu.scaling == twin.scaling
    assert {"mcu_lstm_int8_model.c", "mcu_lstm_int8_model.h", "linreg_cal.json"} <= set(load_manifest(after).files)


def test_the_int8_error_is_measured_on_every_test_window_next_to_the_float_one(added):
    _, after = added
    full = load_manifest(after).models["mcu_lstm_int8"].metrics["full_test"]
    assert full["windows"] == full["int8"]["n"] == full["float_keras"]["n"] == 4032 - 30 - 5 + 1
    assert full["int8"]["mse"] == pytest.approx(full["float_keras"]["mse"], rel=0.05)


def test_the_assets_readme_says_how_the_mcu_model_was_added(added):
    _, after = added
    text = (after / "README.md").read_text()
    assert "--mcu-model" in text and "--add" in text and "`UNIDIRECTIONAL_SEQUENCE_LSTM`" in text


def test_add_without_an_mcu_model_is_refused():
    with pytest.raises(ValueError, match="mcu_model"):
        QuantizeConfig(add=True)


def test_help_explains_the_mcu_options(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "--mcu-model" in text and "--add" in text


def test_the_residual_add_costs_no_macs():
    from convert.cost import model_macs
    from train.mcu_models import build_model, candidate

    res8 = candidate("res8_hour_sm")
    assert model_macs(build_model(res8)) == res8.macs == 13_448


def test_the_search_table_gets_the_int8_columns_of_the_file_that_ships(search_dir, added):
    from convert.search_int8 import fill_search

    rows = {r.name: r for r in fill_search(search_dir, tflm=False)}
    res8 = rows["res8_hour_sm"]
    shipped = load_manifest(added[1])
    assert res8.int8_bytes == shipped.files["mcu_lstm_int8.tflite"]["bytes"]
    assert res8.int8_mse == shipped.models["mcu_lstm_int8"].metrics["full_test"]["int8"]["mse"]
    assert "| 5," in (search_dir / "table.md").read_text()  # the int8 bytes column is filled
