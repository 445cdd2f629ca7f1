"""The layering contracts in pyproject.toml (import-linter) hold, and they do catch an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "envs", "servers", "resrl", "agents")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``root``, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}  # these packages, not the installed ones
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def copy_packages(target: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", target)
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "static"))


def test_the_project_keeps_its_layers(tmp_path: Path) -> None:
    copy_packages(tmp_path)
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward", "contract"), [
    ("envs/core.py", "import servers.http", "nothing imports from a layer above it"),
    ("sandbox/models.py", "from envs import core", "nothing imports from a layer above it"),
    ("servers/http.py", "import agents.config", "nothing imports from a layer above it"),  # siblings
    ("resrl/loss.py", "import envs", "resrl is the algorithm alone"),
    ("envs/registry.py", "import resrl", "only the training side"),
])
def test_an_upward_import_breaks_a_contract(tmp_path: Path, module: str, upward: str, contract: str) -> None:
    copy_packages(tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{upward}  # an import the layering forbids\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def test_no_benchmark_shadows_a_package() -> None:
    # `python benchmarks/x.py` puts benchmarks/ first on sys.path: a benchmarks/sandbox.py would be
    # imported in place of the sandbox package by everything the benchmark imports
    shadowing = sorted(p.name for p in (REPO / "benchmarks").glob("*.py") if p.stem in PACKAGES)
    assert not shadowing, shadowing
