"""``convert.quantize`` on a tiny seed LSTM (1 epoch on 600 bundled windows): the fused int8 graph, its fidelity,
its proof on TFLM, the manifest the device loads, and the C arrays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from convert.config import QuantizeConfig  # noqa: E402
from convert.flatbuffer import summarize  # noqa: E402
from convert.isolated import ChildCrashed, run_isolated  # noqa: E402
from convert.quantize import WouldDropModels, build_parser, main, quantize  # noqa: E402
from convert.tflite_convert import ConversionFailed, convert_model  # noqa: E402
from convert.tflm import arena_works  # noqa: E402
from device.contract import WindowSpec  # noqa: E402
from device.models.families.linreg import LinearRegression  # noqa: E402
from device.models.families.tflite import quantize as quantize_input  # noqa: E402
from device.models.load import load_models  # noqa: E402
from device.models.manifest import sha256_of  # noqa: E402
from tests.conftest import BUNDLED_DATA, REPO  # noqa: E402
from train.artifacts import TrainedModel, save_trained_model  # noqa: E402
from train.data import load_measurements, train_test_by_fraction  # noqa: E402
from train.windows import cut_windows  # noqa: E402

pytestmark = pytest.mark.slow  # trains a seed LSTM and converts it

SPEC = WindowSpec(seq_len=30, horizon=5, features=("gap",))
FUSED_SEED_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "FULLY_CONNECTED")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A hand-over folder as ``python -m train`` writes it, with a 1-epoch seed LSTM and the linear regression."""
    import keras

    from train.models import build_seed_lstm

    series, _ = load_measurements(BUNDLED_DATA).fill()
    w = cut_windows(series, *train_test_by_fraction(len(series), 0.8), SPEC)
    run = tmp_path_factory.mktemp("run")
    models = run / "models"
    keras.utils.set_random_seed(0)
    model = build_seed_lstm(SPEC)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(w.x_train[:600], w.y_train[:600], epochs=1, batch_size=100, verbose=0)
    models.mkdir(parents=True)
    model.save(models / "seed_lstm.keras")
    x_val, y_val = w.x_test[::20], w.y_test[::20]  # ~200 windows keep the TFLM pass short
    common = dict(window=SPEC, scaling=w.scaling, calibration=w.x_train[::50], x_val=x_val, y_val=y_val)
    save_trained_model(models, TrainedModel("seed_lstm", parameters=model.count_params(), **common))
    linreg = LinearRegression.fit(SPEC, w.x_train, w.y_train)
    save_trained_model(models, TrainedModel("linreg", parameters=31, extra=linreg.to_dict(), **common))
    (run / "report.json").write_text(
        json.dumps({"config": {"data": str(BUNDLED_DATA), "models": ["linreg", "seed_lstm"]}})
    )
    return run


@pytest.fixture(scope="module")
def assets(run_dir):
    out = run_dir / "assets"
    manifest = quantize(QuantizeConfig(run_dir=run_dir, out=out, networks=("seed_lstm",)))
    return out, manifest


def _ops(assets, name: str):
    return summarize((assets[0] / f"{name}.tflite").read_bytes())


@pytest.mark.parametrize("name", ["lstm_int8", "lstm_float32"])
def test_each_lstm_layer_is_one_fused_builtin_op(assets, name):
    summary = _ops(assets, name)
    assert summary.ops == FUSED_SEED_OPS
    assert summary.subgraphs == 1  # no WHILE body


def test_int8_model_is_full_integer_at_batch_one(assets):
    summary = _ops(assets, "lstm_int8")
    assert (summary.input.dtype, summary.output.dtype) == ("int8", "int8")
    assert summary.input.shape == (1, 30, 1) and summary.output.shape == (1, 1)
    assert summary.float_tensors == ()
    assert summary.input.scale > 0 and summary.output.scale > 0


def test_float_model_keeps_float_input_and_output(assets):
    summary = _ops(assets, "lstm_float32")
    assert (summary.input.dtype, summary.output.dtype) == ("float32", "float32")


def _n_val(run_dir) -> int:
    return len(np.load(run_dir / "models" / "seed_lstm.windows.npz")["y_val"])


def test_int8_task_mse_stays_within_one_percent_of_float(assets, run_dir):
    fidelity = assets[1].models["lstm_int8"].metrics["fidelity"]
    assert fidelity["windows"] == _n_val(run_dir) > 150
    assert abs(fidelity["task_mse_change_pct"]) < 1.0
    assert fidelity["max_abs_vs_reference_kw"] > 0  # it is really quantized


def test_same_window_twice_in_a_row_gives_the_same_output_after_reset(assets, run_dir):
    entry = assets[1].models["lstm_int8"]
    interpreter = Interpreter(model_path=str(assets[0] / entry.file))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    window = quantize_input(np.load(run_dir / "models" / "seed_lstm.windows.npz")["x_val"][50:51], entry.input)
    outputs = []
    for _ in range(2):
        interpreter.reset_all_variables()
        interpreter.set_tensor(inp["index"], window)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]).copy())
    assert outputs[0] == outputs[1]


def test_tflm_runs_in_the_bisected_arena_and_not_16_bytes_less(assets, run_dir):
    entry = assets[1].models["lstm_int8"]
    model_bytes = (assets[0] / entry.file).read_bytes()
    window = quantize_input(np.load(run_dir / "models" / "seed_lstm.windows.npz")["x_val"][0], entry.input)
    assert 4096 < entry.arena_bytes < 16384
    assert arena_works(model_bytes, entry.arena_bytes, window)
    assert not arena_works(model_bytes, entry.arena_bytes - 16, window)


def test_tflm_agrees_with_litert_on_every_validation_window(assets, run_dir):
    tflm = assets[1].models["lstm_int8"].metrics["tflm"]
    assert sum(tflm["step_histogram"]) == _n_val(run_dir)
    assert tflm["within_2_steps"] >= 0.99  # TFLM's integer LSTM kernel rounds differently from LiteRT's
    assert tflm["max_steps_vs_litert"] <= 4
    assert abs(tflm["task"]["task_mse_change_pct"]) < 0.5


def test_manifest_records_macs_parameters_hashes_and_tool_versions(assets):
    out, manifest = assets
    lstm = manifest.models["lstm_int8"]
    assert lstm.macs == 30 * 4 * 5 * (1 + 5) + 30 * 4 * 3 * (5 + 3) + 3 == 6483
    assert lstm.parameters == 252
    assert manifest.models["linreg"].macs == 30
    assert set(manifest.versions) == {"tensorflow-cpu", "keras", "ai-edge-litert", "tflite-micro", "numpy"}
    for name, described in manifest.files.items():
        assert described["sha256"] == sha256_of(out / name), name


def test_device_loads_every_model_the_manifest_lists(assets):
    out, manifest = assets
    loaded = load_models(out, tuple(manifest.models))
    assert [m.name for m in loaded] == [
        "linreg",
        "linreg_q15",
        "persistence",
        "trend_line",
        "lstm_float32",
        "lstm_int8",
    ]
    x = np.load(out.parent / "models" / "seed_lstm.windows.npz")["x_val"][:5]
    for m in loaded:
        assert m.predictor.predict(x, np.full(5, 30)).shape == (5,)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_c_arrays_compile_are_16_byte_aligned_and_hold_the_file(assets, tmp_path):
    out = assets[0]
    main = tmp_path / "main.c"
    main.write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "lstm_int8_model.h"\n'
        "int main(void) { unsigned long sum = 0; for (size_t i = 0; i < lstm_int8_model_len; ++i) "
        "sum = sum * 31u + lstm_int8_model[i];\n"
        'printf("%lu %lu %lu\\n", (unsigned long)((uintptr_t)lstm_int8_model % 16), '
        "(unsigned long)lstm_int8_model_len, sum); return 0; }\n"
    )
    exe = tmp_path / "check"
    flags = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out}"]
    subprocess.run([*flags, "-c", "-o", str(tmp_path / "f.o"), str(out / "lstm_float32_model.c")], check=True)
    subprocess.run([*flags, "-o", str(exe), str(main), str(out / "lstm_int8_model.c")], check=True)
    remainder, length, checksum = map(
        int, subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    )
    data = (out / "lstm_int8.tflite").read_bytes()
    expected = 0
    for b in data:
        expected = (expected * 31 + b) % 2**64
    assert (remainder, length, checksum) == (0, len(data), expected)


def test_conversion_is_byte_for_byte_reproducible(assets, run_dir):
    models = run_dir / "models"
    calibration = np.load(models / "seed_lstm.windows.npz")["calibration"]
    again = convert_model(models / "seed_lstm.keras", "int8", calibration)
    assert again == (assets[0] / "lstm_int8.tflite").read_bytes()


def test_16x8_mode_is_refused_with_a_clear_reason(run_dir):
    models = run_dir / "models"
    with pytest.raises(ConversionFailed, match="16x8.*UNIDIRECTIONAL_SEQUENCE_LSTM"):
        convert_model(models / "seed_lstm.keras", "int16x8", np.load(models / "seed_lstm.windows.npz")["calibration"])


def test_a_native_crash_in_the_child_becomes_a_clear_error():
    with pytest.raises(ChildCrashed, match="probe: the process crashed in native code"):
        run_isolated("probe", os.abort)


def test_help_explains_every_option_and_that_the_tflm_proof_runs_by_default(capsys):
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.dest
    assert {"--run-dir", "--out", "--networks", "--big-model-modes", "--no-tflm", "--force"} <= set(
        parser._option_string_actions
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--tflm, --no-tflm prove the int8 models on TFLM" in text and "skips that to save time" in text
    assert "(default: True)" not in text


def test_a_run_folder_without_linreg_is_refused_naming_the_train_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m train --out .* --models linreg seed_lstm"):
        quantize(QuantizeConfig(run_dir=tmp_path / "never-trained", out=tmp_path / "assets"))


def test_regenerating_the_committed_assets_is_refused_naming_the_models_it_would_drop(run_dir, tmp_path, capsys):
    committed = tmp_path / "firmware_assets"
    shutil.copytree(REPO / "firmware_assets", committed)
    before = {p.relative_to(committed): p.read_bytes() for p in committed.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_info:
        main(["--run-dir", str(run_dir), "--out", str(committed)])
    assert exit_info.value.code == 1
    error = " ".join(capsys.readouterr().err.split())
    assert "lists augmented_lstm_int8, cnn_bilstm_int8, linreg_cal, mcu_lstm_int8, which" in error
    assert "--force" in error
    assert {p.relative_to(committed): p.read_bytes() for p in committed.rglob("*") if p.is_file()} == before


def test_force_regenerates_a_folder_with_only_what_the_run_makes(assets, tmp_path):
    out = tmp_path / "assets"
    shutil.copytree(assets[0], out)
    with pytest.raises(WouldDropModels, match="lstm_float32, lstm_int8"):
        quantize(QuantizeConfig(run_dir=assets[0].parent, out=out, networks=()))
    manifest = quantize(QuantizeConfig(run_dir=assets[0].parent, out=out, networks=(), force=True))
    assert sorted(manifest.models) == ["linreg", "linreg_q15", "persistence", "trend_line"]
    assert not (out / "lstm_int8.tflite").exists()
