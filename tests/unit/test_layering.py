"""The layering in DESIGN.md, checked by import-linter from inside pytest.

`make lint` runs the same contracts; this test makes a bare `pytest` check
them too, so the sans-I/O core cannot quietly start importing asyncio.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CORE_CONTRACT = "The core is sans-I/O"


def _contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config = tomllib.load(f)
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _core_modules() -> list[str]:
    for contract in _contracts():
        if contract["name"] == CORE_CONTRACT:
            modules: list[str] = contract["source_modules"]
            return modules
    raise AssertionError(f"pyproject.toml has no import-linter contract named {CORE_CONTRACT!r}")


def test_import_linter_contracts_hold() -> None:
    assert LINT_IMPORTS.is_file(), (
        f"{LINT_IMPORTS} is missing: install the test extras (pip install -e '.[test]')"
    )
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"import-linter contracts are broken (exit {result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )


def test_core_contract_is_not_empty() -> None:
    assert _core_modules(), f"the {CORE_CONTRACT!r} contract lists no source modules"


@pytest.mark.parametrize("module", _core_modules())
def test_core_contract_module_exists(module: str) -> None:
    # A contract over a module that does not exist guards nothing; rather than
    # skip it, fail, so the contract and the tree are made to agree.
    assert importlib.util.find_spec(module) is not None, (
        f"{module} is listed in the {CORE_CONTRACT!r} import-linter contract in "
        "pyproject.toml but does not exist: create it or remove it from the contract"
    )
