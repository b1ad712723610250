"""`arena dashboard`: a bad project file is a one-line error before anything starts.

That it serves the dashboard is checked by the browser test, whose server is `arena dashboard`.
"""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.conftest import arena_cli


def test_missing_project_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = arena_cli("dashboard", "-c", str(tmp_path / "arena.yaml"), "--port", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'arena.yaml'}: project file not found "
                                                  "(create one, or pass -c FILE)"]


def test_bad_port_is_refused(tmp_path: Path) -> None:
    result = arena_cli("dashboard", "--port", "70000")
    assert result.returncode == 2 and "--port" in result.stderr
