"""Data flows one way (data -> train -> convert -> assets -> device <- simulator): no package imports the tests, convert
converts what train hands over without training, and the dataset loads without TensorFlow. One exception, on purpose:
``python -m train --data RECORDING`` compares the retrained model with the shipped one int8 both, which is convert's
job, so the command line calls ``convert.house`` once the hand-over is on disk."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "convert", "device", "simulator", "train")
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
