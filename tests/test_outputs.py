"""Every `--out` is checked before any work: a folder, a missing parent or an unwritable place is one
line and exit 2, with no snapshot stored and no temporary file left; written files honour the umask."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.errors import OutputError
from arena.files import write_atomic
from tests.ratings.test_cli import project, snapshot_count  # noqa: F401 - the fixture
from tests.store.test_store_errors import unprivileged

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def bad_outputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "a-folder").mkdir(exist_ok=True)
    (tmp_path / "a-file").write_text("x")
    return {
        "folder": (tmp_path / "a-folder", "is a folder"),
        "missing parent": (tmp_path / "nowhere" / "out.csv", "does not exist"),
        "parent is a file": (tmp_path / "a-file" / "out.csv", "is not a folder"),
    }


def assert_output_error(result, path: Path, said: str) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(result.exception, OutputError), result.output
    message = str(result.exception)
    assert message.startswith(str(path)) and said in message and "\n" not in message
    assert result.exception.exit_code == 2


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")))


@pytest.mark.parametrize("case", ["folder", "missing parent", "parent is a file"])
def test_rate_checks_its_out_before_storing_a_snapshot(project: Path, tmp_path: Path, case: str) -> None:  # noqa: F811
    out, said = bad_outputs(tmp_path)[case]
    result = runner.invoke(app, ["rate", "-c", str(project), "--source", "import:crowd", "--bootstrap", "5",
                                 "--format", "csv", "--out", str(out)])
    assert_output_error(result, out, said)
    assert snapshot_count(project.parent) == 0 and leftovers(tmp_path) == []


@pytest.mark.parametrize("case", ["folder", "missing parent"])
def test_battles_export_checks_its_out(project: Path, tmp_path: Path, case: str) -> None:  # noqa: F811
    out, said = bad_outputs(tmp_path)[case]
    result = runner.invoke(app, ["battles", "export", "-c", str(project), "--source", "all", "--out", str(out)])
    assert_output_error(result, out, said)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("case", ["folder", "missing parent"])
def test_questions_import_checks_its_out(tmp_path: Path, case: str) -> None:
    source = tmp_path / "theirs.jsonl"
    source.write_text('{"question": "What is a normal resting heart rate?"}\n')
    out, said = bad_outputs(tmp_path)[case]
    result = runner.invoke(app, ["questions", "import", str(source), "--format", "jsonl", "--out", str(out),
                                 "--map", "text=question", "--category", "cardiology"])
    assert_output_error(result, out, said)
    assert leftovers(tmp_path) == []


def test_an_unwritable_folder_is_refused_before_the_fit(project: Path, tmp_path: Path) -> None:  # noqa: F811
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = subprocess.run(
            [*unprivileged(), sys.executable, "-m", "arena.cli", "rate", "-c", str(project), "--source",
             "import:crowd", "--bootstrap", "5", "--out", str(locked / "board.md"), "--format", "markdown"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {locked / 'board.md'}: cannot write the leaderboard: its folder " \
                                  f"{locked} is not writable by this user"
    assert snapshot_count(project.parent) == 0


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "leaderboard.csv", "model,rating\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "leaderboard.csv").stat().st_mode & 0o777 == mode
    assert leftovers(tmp_path) == []
