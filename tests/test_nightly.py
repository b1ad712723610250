"""`arena nightly` end to end, on the CPU without any vLLM engine.

Each candidate model is a scripted OpenAI-compatible server of its own (answers of different
lengths, so the ratings have an order), and the judge is the scripted Prometheus-style judge
that prefers the longer answer. Every generation request is counted, so "zero model calls"
is checked on the servers themselves. Kill tests run `arena nightly` as a real subprocess and
SIGKILL it at exact points (see `ARENA_TEST_PAUSE_AT` in arena/testing.py).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from arena.config import ArenaConfig, load_config
from arena.nightly.runner import NightlyReport, run_nightly
from arena.store.engine import Store, open_store
from tests.fakes import project as fakes
from tests.fakes.project import edit_config, read_config
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.nightly.project import read_log, write_project, write_questions

MODELS = ("alpha", "beta", "gamma")
N_QUESTIONS = 4
PAIRS = 3  # alpha-beta, alpha-gamma, beta-gamma


def candidate_script(name: str, words: int):  # type: ignore[no-untyped-def]
    def script(prompt: str) -> str:
        return f"{name} says: " + " ".join(["rest"] * words) + "."
    return script


@dataclass
class Servers:
    candidates: dict[str, ScriptedServer]
    judge: ScriptedServer

    def urls(self) -> dict[str, str]:
        return {name: server.base_url for name, server in self.candidates.items()}

    def candidate_calls(self) -> dict[str, int]:
        return {name: len(server.requests) for name, server in self.candidates.items()}

    def judge_calls(self) -> int:
        return len(self.judge.requests)

    def total_calls(self) -> int:
        return sum(self.candidate_calls().values()) + self.judge_calls()


@pytest.fixture
def servers() -> Iterator[Servers]:
    with ExitStack() as stack:
        candidates = {
            name: stack.enter_context(ScriptedServer(candidate_script(name, 3 + 4 * i)))
            for i, name in enumerate((*MODELS, "delta"))
        }
        judge = stack.enter_context(ScriptedServer(prefer_longer_answer_script))
        yield Servers(candidates, judge)


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> str | None:
    """The project's store: its SQLite file unless a test parametrises this with "postgresql"."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return None


BOTH_STORES = pytest.mark.parametrize("storage", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def project(tmp_path: Path, servers: Servers, storage: str | None) -> Path:
    return write_project(tmp_path / "project", model_urls=servers.urls(), judge_url=servers.judge.base_url,
                         storage=storage)


def nightly(config_path: Path) -> tuple[NightlyReport, str]:
    out = io.StringIO()
    report = run_nightly(load_config(config_path), out=out)
    return report, out.getvalue()


def rewrite(project: Path, servers: Servers, **options) -> ArenaConfig:  # type: ignore[no-untyped-def]
    storage = load_config(project).storage or None  # the same store as before
    return load_config(write_project(project.parent, model_urls=servers.urls(),
                                     judge_url=servers.judge.base_url, storage=storage, **options))


# --- reading the store ----------------------------------------------------------------------

def db(project: Path) -> Store:
    return open_store(load_config(project).storage_url, create=False)


def db_rows(project: Path, sql: str) -> list[tuple]:
    store = db(project)
    try:
        with store.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        store.close()


def count(project: Path, sql: str) -> int:
    store = db(project)
    try:
        with store.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        store.close()


def assert_store_sound(project: Path) -> None:
    """Readable, and no row twice under its natural key."""
    store = db(project)
    try:
        with store.connect() as connection:
            if connection.dialect.name == "sqlite":
                assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            duplicates = {
                "answers": "SELECT COUNT(*) FROM (SELECT 1 FROM answers GROUP BY model, question_id, fingerprint HAVING COUNT(*) > 1) AS d",
                "judgments": "SELECT COUNT(*) FROM (SELECT 1 FROM judgments GROUP BY judge_key, answer_a_id, answer_b_id HAVING COUNT(*) > 1) AS d",
                "battles": "SELECT COUNT(*) FROM (SELECT 1 FROM battles GROUP BY judge_key, question_id, model_a, model_b HAVING COUNT(*) > 1) AS d",
                "snapshots": "SELECT COUNT(*) FROM (SELECT 1 FROM snapshots GROUP BY battles_fingerprint, judge_key, category HAVING COUNT(*) > 1) AS d",
            }
            for table, sql in duplicates.items():
                assert connection.execute(text(sql)).scalar_one() == 0, f"duplicate rows in {table}"
            assert connection.execute(text("SELECT COUNT(*) FROM run_locks")).scalar_one() == 0
    finally:
        store.close()


def assert_complete(project: Path, models: int = len(MODELS), questions: int = N_QUESTIONS) -> None:
    pairs = models * (models - 1) // 2
    assert count(project, "SELECT COUNT(*) FROM answers") == models * questions
    assert count(project, "SELECT COUNT(*) FROM judgments WHERE valid") == 2 * pairs * questions
    assert count(project, "SELECT COUNT(*) FROM battles") == pairs * questions


def exports(project: Path) -> dict[str, str]:
    folder = project.parent / "exports"
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


# --- incremental runs -----------------------------------------------------------------------

@BOTH_STORES
def test_first_run_does_everything_and_second_run_makes_no_calls(project: Path, servers: Servers) -> None:
    report, text = nightly(project)
    assert report.exit_code == 0, text
    assert servers.candidate_calls() == {"alpha": N_QUESTIONS, "beta": N_QUESTIONS, "gamma": N_QUESTIONS, "delta": 0}
    assert servers.judge_calls() == 2 * PAIRS * N_QUESTIONS
    assert_complete(project)
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 1
    first_exports = exports(project)
    assert set(first_exports) == {"leaderboard.csv", "leaderboard.json", "leaderboard.md"}
    assert first_exports["leaderboard.csv"].splitlines()[1].split(",")[3] == "gamma"  # longest answers win

    calls = servers.total_calls()
    report, text = nightly(project)
    assert report.exit_code == 0, text
    assert servers.total_calls() == calls  # zero model calls
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 1  # no duplicate snapshot
    assert exports(project) == first_exports
    assert "kept snapshot" in text
    assert_store_sound(project)
    log = read_log(load_config(project))
    runs = [line for line in log if line["stage"] == "run"]
    assert len(runs) == 2 and all(r["exit_code"] == 0 for r in runs)
    assert [line["stage"] for line in log[:7]] == ["questions", "generate", "judge", "rate", "export", "cost", "run"]


def test_the_summary_ends_with_what_the_run_cost_and_the_exports_carry_it(project: Path, servers: Servers) -> None:
    report, text = nightly(project)
    cost = report.result("cost")
    assert cost is not None and cost.status == "ok"
    runs = db_rows(project, "SELECT kind, name, session, items, prompt_tokens, completion_tokens FROM runs")
    assert {(kind, name) for kind, name, *_ in runs} == {("generate", m) for m in MODELS} | {("judge", "scripted-judge")}
    assert {session for _, _, session, *_ in runs} == {report.run_id}
    prompt, completion = sum(r[4] for r in runs), sum(r[5] for r in runs)
    assert cost.counts["prompt_tokens"] == prompt and cost.counts["completion_tokens"] == completion
    line = next(line for line in text.splitlines() if line.strip().startswith("cost"))
    assert f"{prompt:,} prompt + {completion:,} completion tokens" in line and "GPU-hours" in line
    exported = json.loads((project.parent / "exports" / "leaderboard.json").read_text())
    assert exported["cost"]["last_nightly"] == report.run_id
    again, text = nightly(project)  # nothing new: no run recorded, nothing spent
    assert again.result("cost").counts == {"runs": 0}  # type: ignore[union-attr]
    assert "no cost" in text


def test_a_new_model_costs_only_its_answers_and_battles(project: Path, servers: Servers) -> None:
    nightly(project)
    before_candidates, before_judge = servers.candidate_calls(), servers.judge_calls()
    config = rewrite(project, servers, models=[*MODELS, "delta"])
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    after = servers.candidate_calls()
    assert {n: after[n] - before_candidates[n] for n in after} == {"alpha": 0, "beta": 0, "gamma": 0, "delta": N_QUESTIONS}
    assert servers.judge_calls() - before_judge == 2 * len(MODELS) * N_QUESTIONS  # delta vs each, both orders
    assert_complete(project, models=4)
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 2
    assert "delta" in exports(project)["leaderboard.csv"]
    assert_store_sound(project)


def test_new_questions_cost_only_their_answers_and_battles(project: Path, servers: Servers) -> None:
    nightly(project)
    before_candidates, before_judge = servers.total_calls() - servers.judge_calls(), servers.judge_calls()
    write_questions(project.parent / "more.jsonl", range(101, 103))
    config = rewrite(project, servers, question_files=["questions.jsonl", "more.jsonl"])
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    assert servers.total_calls() - servers.judge_calls() - before_candidates == len(MODELS) * 2
    assert servers.judge_calls() - before_judge == 2 * PAIRS * 2
    assert_complete(project, questions=N_QUESTIONS + 2)
    assert_store_sound(project)


def test_a_new_rubric_version_rejudges_without_mixing(project: Path, servers: Servers) -> None:
    nightly(project)
    candidate_calls = servers.total_calls() - servers.judge_calls()
    judge_calls = servers.judge_calls()
    config = rewrite(project, servers, rubric_version="2")
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    assert servers.total_calls() - servers.judge_calls() == candidate_calls  # answers reused
    assert servers.judge_calls() - judge_calls == 2 * PAIRS * N_QUESTIONS
    with sqlite3.connect(project.parent / "arena.db") as connection:
        keys = dict(connection.execute("SELECT judge_key, COUNT(*) FROM judgments GROUP BY judge_key"))
        assert sorted(keys.values()) == [2 * PAIRS * N_QUESTIONS] * 2  # old judgments kept
        versions = {row[0] for row in connection.execute("SELECT DISTINCT rubric_version FROM judgments")}
        assert versions == {"1", "2"}
        latest = connection.execute("SELECT judge_key, payload FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
    payload = json.loads(latest[1])
    assert payload["n_battles"] == PAIRS * N_QUESTIONS  # rated on the new judgments only
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 2
    assert_store_sound(project)


def test_a_model_whose_server_is_down_is_skipped_and_named(project: Path, servers: Servers) -> None:
    urls = {**servers.urls(), "delta": "http://127.0.0.1:9/v1"}  # nothing listens on port 9
    config = load_config(write_project(project.parent, model_urls=urls, judge_url=servers.judge.base_url,
                                       models=[*MODELS, "delta"]))
    report, text = nightly(config.path)
    assert report.exit_code == 1
    generate = report.result("generate")
    assert generate is not None and generate.status == "partial"
    assert any("delta" in item for item in generate.skipped)
    assert [r.status for r in report.results if r.stage != "generate"] == ["ok"] * 5  # the cost stage too
    assert "skipped:" in text and "delta" in text and "partial stage(s): generate" in text
    assert_complete(project)  # the three reachable models were fully judged and rated
    assert "delta" not in exports(project)["leaderboard.csv"]


def test_the_judgment_budget_spreads_work_over_nights(project: Path, servers: Servers) -> None:
    config = rewrite(project, servers, max_judgments=10)
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    assert servers.judge_calls() == 10
    nightly(config.path)
    nightly(config.path)
    assert servers.judge_calls() == 2 * PAIRS * N_QUESTIONS  # 10 + 10 + 4, then done
    assert_complete(project)
    assert_store_sound(project)


def test_dry_run_prints_the_plan_and_changes_nothing(project: Path, servers: Servers) -> None:
    result = cli("nightly", "-c", str(project), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not (project.parent / "arena.db").exists()
    assert not (project.parent / "logs").exists() and not (project.parent / "exports").exists()
    for name in MODELS:
        assert f"{name}: {N_QUESTIONS} answers to generate" in result.stdout
    assert f"{PAIRS * N_QUESTIONS} battles to judge" in result.stdout
    assert f"{2 * PAIRS * N_QUESTIONS} judge calls" in result.stdout
    assert servers.total_calls() == 0

    nightly(project)
    config = rewrite(project, servers, models=[*MODELS, "delta"])
    before = (project.parent / "arena.db").stat().st_mtime_ns, servers.total_calls()
    result = cli("nightly", "-c", str(config.path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "delta: 4 answers to generate" in result.stdout and "alpha: 0 answers" in result.stdout
    assert f"{len(MODELS) * N_QUESTIONS} battles to judge" in result.stdout
    assert ((project.parent / "arena.db").stat().st_mtime_ns, servers.total_calls()) == before


def prefer_shorter_answer_script(prompt: str) -> str:
    from tests.fakes.scripted_server import response_sections

    a, b = response_sections(prompt)
    winner = "A" if len(a) < len(b) else "B"
    return f"Response {winner} is more concise. [RESULT] {winner}"


def test_nightly_runs_every_judge_of_a_jury(project: Path, servers: Servers) -> None:
    with ScriptedServer(prefer_shorter_answer_script, model="contrarian") as contrarian:
        first = read_config(project)["judge"]
        edit_config(project, judge=None, judges=[
            first, {**first, "name": "contrarian", "model": "contrarian", "base_url": contrarian.base_url}])
        dry = cli("nightly", "-c", str(project), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        for name in ("scripted-judge", "contrarian"):
            assert f"judge {name}, judge key" in dry.stdout and f"{2 * PAIRS * N_QUESTIONS} judge calls" in dry.stdout
        report, text = nightly(project)
        assert report.exit_code == 0, text
        assert servers.judge_calls() == len(contrarian.requests) == 2 * PAIRS * N_QUESTIONS
        assert count(project, "SELECT COUNT(DISTINCT judge_key) FROM battles") == 2
        stored = db_rows(project, "SELECT payload FROM snapshots ORDER BY id DESC")[0][0]
        payload = stored if isinstance(stored, dict) else json.loads(stored)
        assert [j["judge"] for j in payload["judges"]] == ["scripted-judge", "contrarian"]
        # two judges who always disagree: every jury battle is a tie, and kappa says they disagree
        assert {r["win_rate"] for r in payload["leaderboard"]} == {0.5}
        assert payload["agreement"]["pairs"][0]["n"] == PAIRS * N_QUESTIONS
        assert payload["agreement"]["pairs"][0]["observed"] == 0.0
        assert "Jury of 2 judges" in (project.parent / "exports" / "leaderboard.md").read_text(encoding="utf-8")
        again, text = nightly(project)
        assert again.exit_code == 0, text
        assert servers.judge_calls() == len(contrarian.requests) == 2 * PAIRS * N_QUESTIONS


def test_a_jury_shares_the_nightly_budget(project: Path, servers: Servers) -> None:
    with ScriptedServer(prefer_shorter_answer_script, model="contrarian") as contrarian:
        first = read_config(project)["judge"]
        edit_config(project, judge=None, judges=[
            first, {**first, "name": "contrarian", "model": "contrarian", "base_url": contrarian.base_url}],
            nightly={**read_config(project)["nightly"], "max_judgments": 10})
        dry = cli("nightly", "-c", str(project), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "(budget 10 per run shared by the jury: 6 tonight)" in dry.stdout
        assert "(budget 10 per run shared by the jury: 4 tonight)" in dry.stdout
        report, text = nightly(project)
        assert report.exit_code == 0, text
        assert (servers.judge_calls(), len(contrarian.requests)) == (6, 4)  # 10 in all, not 10 each


def test_nightly_judges_in_adaptive_rounds_within_its_budget(project: Path, servers: Servers) -> None:
    edit_config(project, pairs={"mode": "adaptive", "round_judgments": 6, "min_round_judgments": 4,
                                "warmup_battles_per_pair": 1},
                nightly={**read_config(project)["nightly"], "max_judgments": 10})
    report, text = nightly(project)
    assert report.exit_code == 0, text
    assert servers.judge_calls() == 10 and "adaptive, stopped: budget of 10 judgments used" in text
    report, text = nightly(project)
    assert report.exit_code == 0, text
    calls = servers.judge_calls()
    assert 10 < calls <= 20  # the next night spends its own budget, on what is still open
    assert count(project, "SELECT COUNT(*) FROM judgments") == calls  # nothing judged twice


def test_the_dry_run_plans_as_the_judge_does(project: Path, servers: Servers) -> None:
    """A changed reference answer makes its pairs pending for `arena judge` and for the dry run alike."""
    from tests.nightly.project import question

    nightly(project)
    rows = [question(n) for n in range(1, N_QUESTIONS + 1)]
    rows[1]["reference"] = "Rest, fluids and paracetamol; see a doctor if it lasts a week."
    fakes.write_questions(project.parent / "questions.jsonl", rows)
    planned = cli("judge", "-c", str(project), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.count("[reference changed]") == 2 * PAIRS
    dry = cli("nightly", "-c", str(project), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{PAIRS} battles to judge, {2 * PAIRS} judge calls" in dry.stdout
    assert f"{PAIRS} pairs are judged again: their question's reference answer changed" in dry.stdout
    before = servers.judge_calls()
    report, text = nightly(project)
    assert report.exit_code == 0, text
    assert servers.judge_calls() - before == 2 * PAIRS


def test_a_tiny_local_model_is_generated_once(project: Path, servers: Servers, tiny_model_dir: Path) -> None:
    tiny = {"name": "tiny-hf", "backend": "transformers", "model": str(tiny_model_dir), "batch_size": 4,
            "sampling": {"max_tokens": 16, "seed": 1}}
    config = rewrite(project, servers, models=["alpha", "beta"], extra_models=[tiny])
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    assert report.result("generate").counts["per_model"]["tiny-hf"]["generated"] == N_QUESTIONS
    assert_complete(project, models=3)
    calls = servers.total_calls()
    report, text = nightly(config.path)
    assert report.exit_code == 0, text
    assert report.result("generate").counts["generated"] == 0  # the local model was not even loaded
    assert servers.total_calls() == calls
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 1


def test_a_judge_that_is_down_fails_its_stage_but_exports_are_refreshed(project: Path, servers: Servers) -> None:
    nightly(project)
    write_questions(project.parent / "more.jsonl", range(101, 103))
    config = load_config(write_project(project.parent, model_urls=servers.urls(), judge_url="http://127.0.0.1:9/v1",
                                       question_files=["questions.jsonl", "more.jsonl"]))
    report, text = nightly(config.path)
    assert report.exit_code == 1
    assert [(r.stage, r.status) for r in report.results] == [
        ("questions", "ok"), ("generate", "ok"), ("judge", "failed"), ("rate", "ok"), ("export", "ok"), ("cost", "ok")]
    assert "failed stage(s): judge" in text and "127.0.0.1:9" in text
    assert count(project, "SELECT COUNT(*) FROM answers") == len(MODELS) * (N_QUESTIONS + 2)  # kept for tomorrow
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 1  # battles unchanged: no new snapshot
    assert read_log(config)[-1]["failed_stages"] == ["judge"]


def test_a_broken_question_file_stops_the_stages_that_read_questions(project: Path, servers: Servers) -> None:
    nightly(project)
    calls = servers.total_calls()
    questions = project.parent / "questions.jsonl"
    questions.write_text(questions.read_text() + "{not json\n")
    report, text = nightly(project)
    assert report.exit_code == 1
    assert [(r.stage, r.status) for r in report.results] == [
        ("questions", "failed"), ("generate", "skipped"), ("judge", "skipped"), ("rate", "skipped"),
        ("export", "skipped"), ("cost", "ok")]
    assert f"{questions}:{N_QUESTIONS + 1}: malformed JSON" in text
    assert servers.total_calls() == calls


def test_a_bad_project_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "arena.yaml").write_text("models: [\n")
    result = cli("nightly", "-c", str(tmp_path / "arena.yaml"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "malformed YAML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the real command: concurrency and kills --------------------------------------------------

def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def start_paused(project: Path, point: str) -> subprocess.Popen[str]:
    """Start `arena nightly` and return once it announced it is paused at `point`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "nightly", "-c", str(project)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ARENA_TEST_PAUSE_AT": point},
    )
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("nightly: paused at"):
            return process
    process.kill()
    process.wait()
    raise AssertionError(f"the run never paused at {point}:\n{''.join(seen)}")


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@BOTH_STORES
def test_a_second_concurrent_run_exits_at_once_naming_the_holder(project: Path, servers: Servers) -> None:
    first = start_paused(project, "generate")
    try:
        started = time.monotonic()
        second = cli("nightly", "-c", str(project))
        assert second.returncode == 3
        assert time.monotonic() - started < 30
        assert f"pid {first.pid} on host " in second.stderr and "started 20" in second.stderr
        assert servers.total_calls() == 0
    finally:
        kill(first)
    # the dead run's lock is taken over, and the run completes
    third = cli("nightly", "-c", str(project))
    assert third.returncode == 0, third.stdout + third.stderr
    assert "took over the lock of a dead run" in third.stdout and f"pid {first.pid}" in third.stdout
    assert_complete(project)
    assert_store_sound(project)


def test_sigterm_stops_cleanly_and_releases_the_lock(project: Path, servers: Servers) -> None:
    victim = start_paused(project, "judge")
    victim.send_signal(signal.SIGTERM)
    _, stderr = victim.communicate(timeout=60)
    assert victim.returncode == 130, stderr
    assert "interrupted: finished work is saved" in stderr
    assert stderr.count("interrupted") == 1, stderr  # said once, by nightly
    assert count(project, "SELECT COUNT(*) FROM run_locks") == 0
    log = read_log(load_config(project))
    assert log[-1]["stage"] == "run" and log[-1]["status"] == "interrupted"
    report, text = nightly(project)
    assert report.exit_code == 0 and "took over" not in text
    assert_complete(project)


KILL_POINTS = [
    "insert:answers@3",       # mid-generation, an answer inserted but not committed
    "insert:judgments@5",     # mid-judging
    "insert:battles@2",       # a battle being recorded from its two judgments
    "insert:snapshots",       # during the snapshot write
    "write:leaderboard.json",  # an export written to its temp file, not yet moved into place
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_any_point_the_next_run_finishes_the_work(point: str, project: Path, servers: Servers,
                                                            storage: str | None) -> None:
    victim = start_paused(project, point)
    kill(victim)
    if storage is None:
        with sqlite3.connect(project.parent / "arena.db") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    calls_before = servers.candidate_calls()
    answers_before = count(project, "SELECT COUNT(*) FROM answers")
    table, _, nth = point.removeprefix("insert:").partition("@")
    if point.startswith("insert:") and table in ("answers", "snapshots"):
        # killed inside the Nth insert's transaction: at most the N-1 before it were committed
        # (fewer when the stage groups several rows in one transaction)
        assert count(project, f"SELECT COUNT(*) FROM {table}") < int(nth or 1)

    rerun, text = nightly(project)  # in-process: the CLI path is covered by the concurrency test
    assert rerun.exit_code == 0, text
    assert f"took over the lock of a dead run (pid {victim.pid}" in text
    assert_complete(project)
    assert_store_sound(project)
    # finished work was not redone: each candidate answered each question exactly once overall
    after = servers.candidate_calls()
    generated_again = sum(after.values()) - sum(calls_before.values())
    assert generated_again == len(MODELS) * N_QUESTIONS - answers_before
    assert count(project, "SELECT COUNT(*) FROM snapshots") == 1
    board = exports(project)  # complete files, and no temp file left behind
    assert sorted(board) == ["leaderboard.csv", "leaderboard.json", "leaderboard.md"]
    assert json.loads(board["leaderboard.json"])["n_battles"] == PAIRS * N_QUESTIONS
    # a third run has nothing to do
    calls = servers.total_calls()
    again, text = nightly(project)
    assert again.exit_code == 0 and servers.total_calls() == calls, text
