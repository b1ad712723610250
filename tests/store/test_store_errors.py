"""A store that cannot be written (read-only file, a lock held past the busy timeout, a full disk):
every writing command says so in one line naming the store, exits non-zero, and loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.project import openai_model
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.judge.helpers import Project, make_project, scripted_judge

REPO = Path(__file__).resolve().parents[2]
MODELS = ("alpha", "beta", "gamma")


def unprivileged() -> list[str]:
    """A prefix that runs a command without root's permission override (chmod binds it)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: chmod cannot make a file read-only for root")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def arena(*args: str, prefix: list[str] | None = None, env: dict[str, str] | None = None,
          ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([*(prefix or []), sys.executable, "-m", "arena.cli", *args], capture_output=True,
                          text=True, env=environment, timeout=120)


def script(prompt: str) -> str:
    return prefer_longer_answer_script(prompt) if "###Response A:" in prompt else f"an answer: {prompt[-40:]}"


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(script) as running:
        yield running


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory, server: ScriptedServer) -> Project:
    return served_project(tmp_path_factory.mktemp("served") / "p", server)


def copy_of(project: Project, root: Path) -> Project:
    shutil.copytree(project.root, root)
    return Project(root=root, config_path=root / project.config_path.name)


def served_project(root: Path, server: ScriptedServer) -> Project:
    """Candidates and judge on the scripted server; answered, judged and rated once."""
    project = make_project(root, scripted_judge(server.base_url),
                           models=[openai_model(name, server.base_url, max_retries=0) for name in MODELS])
    for command in (["generate"], ["judge"], ["rate", "--bootstrap", "10"]):
        done = arena(*command, "-c", str(project.config_path))
        assert done.returncode == 0, done.stderr
    return project


def add_question(project: Project) -> None:
    """A new question: every pipeline command now has something to write."""
    with open(project.root / "questions.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "q3", "text": "Is a fever of 39 C dangerous?", "category": "general-practice"}) + "\n")


def row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("questions", "answers", "judgments", "battles", "snapshots")}


def assert_one_line_store_error(done: subprocess.CompletedProcess[str], db: Path) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:") or "failed" in line]
    assert any(str(db) in line for line in errors + done.stdout.splitlines()), done.stderr + done.stdout


WRITING_COMMANDS = [
    ["generate"],
    ["judge"],
    ["rate", "--bootstrap", "11", "--seed", "3"],
    ["battles", "import", "BATTLES"],
    ["nightly"],
]


@pytest.mark.parametrize("command", WRITING_COMMANDS, ids=lambda c: c[0] if c[0] != "battles" else "import")
def test_a_read_only_store_file_is_one_line_naming_it(tmp_path: Path, answered: Project,
                                                        command: list[str]) -> None:
    project = copy_of(answered, tmp_path / "p")
    db = project.root / "arena.db"
    add_question(project)
    battles = tmp_path / "battles.jsonl"
    battles.write_text(json.dumps({"model_a": "x", "model_b": "y", "winner": "model_a", "question_id": "q1"}) + "\n")
    before = row_counts(db)
    db.chmod(0o444)
    try:
        args = [str(battles) if arg == "BATTLES" else arg for arg in command]
        done = arena(*args, "-c", str(project.config_path), prefix=unprivileged())
    finally:
        db.chmod(0o644)
    assert_one_line_store_error(done, db)
    assert row_counts(db) == before
    if command == ["nightly"]:  # a cron job leaves a record even when no stage could run
        records = [json.loads(line) for line in (project.root / "logs" / "nightly.jsonl").read_text().splitlines()]
        assert records[-1]["stage"] == "run" and records[-1]["status"] == "failed"
        assert str(db) in records[-2]["error"]


@pytest.mark.parametrize("command", [["battles", "import", "BATTLES"]], ids=["import"])
def test_a_lock_held_past_the_busy_timeout_is_one_line(tmp_path: Path, answered: Project,
                                                        command: list[str]) -> None:
    project = copy_of(answered, tmp_path / "p")
    db = project.root / "arena.db"
    add_question(project)
    battles = tmp_path / "battles.jsonl"
    battles.write_text(json.dumps({"model_a": "x", "model_b": "y", "winner": "model_a", "question_id": "q1"}) + "\n")
    before = row_counts(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    try:
        args = [str(battles) if arg == "BATTLES" else arg for arg in command]
        done = arena(*args, "-c", str(project.config_path), env={"ARENA_TEST_BUSY_TIMEOUT_MS": "200"})
    finally:
        holder.rollback()
        holder.close()
    assert_one_line_store_error(done, db)
    assert "database is locked" in done.stderr + done.stdout and "busy timeout" in done.stderr + done.stdout
    assert row_counts(db) == before


def test_a_full_disk_is_one_line_and_keeps_what_was_committed(tmp_path: Path, answered: Project) -> None:
    project = copy_of(answered, tmp_path / "p")
    db = project.root / "arena.db"
    before = row_counts(db)
    with sqlite3.connect(db) as connection:  # the file may not grow: as a full disk does
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    big = tmp_path / "battles.jsonl"
    big.write_text("".join(json.dumps({"model_a": f"m{i}", "model_b": "y", "winner": "model_a",
                                       "question_id": f"q{i}"}) + "\n" for i in range(20000)))
    done = arena("battles", "import", str(big), "-c", str(project.config_path),
                 env={"ARENA_TEST_MAX_PAGE_COUNT": str(pages)})
    assert_one_line_store_error(done, db)
    assert "full" in done.stderr
    assert row_counts(db) == before
