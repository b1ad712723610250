"""Lint and types, as the test command runs them: ruff (pyflakes, pycodestyle errors, import
sorting, bugbear, pyupgrade) on the code and its tests, mypy on the package (pyproject.toml holds
both configurations). mypy keeps its cache in the repository's `.mypy_cache`, so a second run
checks only what changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, capture_output=True, text=True, timeout=900)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "--no-cache", "arena", "tests", "benchmarks", "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_package() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
