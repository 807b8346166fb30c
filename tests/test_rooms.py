"""The layout's rules. Data flows one way (data -> train -> convert -> assets -> device <- simulator): no package
imports the tests, convert converts what train hands over without training, and the dataset loads without TensorFlow.
One exception, on purpose: ``python -m train --data RECORDING`` compares the retrained model with the shipped one
int8 both, which is convert's job, so the command line calls ``convert.house`` once the hand-over is on disk.

device/ is two things, kept apart: the kernel the host shares (its top-level modules: contract, options, energy,
scoring, clock, readings, wire, recording_format, atomic; and device.models, device.mqtt, device.sources), and the
agent's own rooms (device.agent, device.config, device.emhass, device.forecasting, device.io), which no host package
imports. MQTT is one layer: only device/mqtt/ makes a paho client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "convert", "device", "firmware", "simulator", "train")
HOST = ("bench", "convert", "firmware", "simulator", "train")
#: The agent's own rooms: what the Pi runs, not what the host shares.
AGENT_ONLY = ("device.agent", "device.config", "device.emhass", "device.forecasting", "device.io")
#: What the device may import beyond the standard library (a Pi installs only these).
DEVICE_THIRD_PARTY = {"numpy", "paho", "ai_edge_litert", "tflite_runtime", "tensorflow", "tflite_micro"}
#: What convert may use of train: the hand-over format, the shared dataset and windowing, the search's table.
CONVERT_MAY_IMPORT = {"train.artifacts", "train.data", "train.windows", "train.search", "train.search_report"}
#: The one place train uses convert. The command line, not train/house.py: the command is where the two stages meet
#: (train, then convert what it handed over, as a person would run them one after the other), while the training
#: module stays importable and testable without the converter, LiteRT or the shipped assets.
TRAIN_MAY_IMPORT = {"train/__main__.py": {"convert.house"}}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports (top level or inside a function)."""
    found = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_imports_the_tests(package):
    assert {
        f: sorted(m for m in names if m.split(".")[0] == "tests")
        for f, names in imported_modules(package).items()
        if any(m.startswith("tests") for m in names)
    } == {}


def test_convert_imports_only_the_hand_over_and_the_shared_dataset_from_train():
    used = {m for names in imported_modules("convert").values() for m in names if m.split(".")[0] == "train"}
    assert used <= CONVERT_MAY_IMPORT, sorted(used - CONVERT_MAY_IMPORT)


def test_train_uses_convert_only_from_its_command_line_and_only_to_compare_a_house_model_int8():
    used = {f: {m for m in names if m.split(".")[0] == "convert"} for f, names in imported_modules("train").items()}
    assert {f: m for f, m in used.items() if m} == TRAIN_MAY_IMPORT


def test_the_dataset_and_the_replay_load_without_tensorflow():
    probe = (
        "import sys, simulator.replay, train.data, convert.quantize; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip() == "[]"


def _is_under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package", HOST)
def test_the_host_uses_the_shared_kernel_never_the_agents_own_rooms(package):
    used = {f: sorted(m for m in names if _is_under(m, AGENT_ONLY)) for f, names in imported_modules(package).items()}
    assert {f: m for f, m in used.items() if m} == {}


def test_the_kernel_does_not_reach_into_the_agents_rooms_or_the_sources():
    kernel = {f: names for f, names in imported_modules("device").items() if f.count("/") == 1}
    commands = ("device/agent.py", "device/config.py", "device/emhass.py")  # the device's commands, not its kernel
    kernel = {f: n for f, n in kernel.items() if f not in commands}
    reached = {
        f: sorted(m for m in names if _is_under(m, (*AGENT_ONLY, "device.sources", "device.mqtt")))
        for f, names in kernel.items()
    }
    assert {f: m for f, m in reached.items() if m} == {}


def test_the_device_imports_no_host_package_and_only_its_declared_third_party_modules():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path, names in imported_modules("device").items():
        tops = {m.split(".")[0] for m in names}
        assert not tops & set(HOST), (path, tops & set(HOST))
        assert tops - stdlib - DEVICE_THIRD_PARTY - {"device"} == set(), path


def test_firmware_builds_on_the_kernel_and_the_converter_never_on_the_simulator_or_the_benchmarks():
    used = {
        f: sorted(m for m in names if m.split(".")[0] in ("simulator", "bench"))
        for f, names in imported_modules("firmware").items()
    }
    assert {f: m for f, m in used.items() if m} == {}


def test_only_the_mqtt_layer_makes_a_paho_client():
    makers = sorted(
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "mqtt.Client(" in path.read_text()
    )
    assert makers == ["device/mqtt/client.py"]
